/*
 * lemu-qmp-docgen: writes docs/qmp.md, the QMP reference, from the
 * command tables, or checks that the committed file is current.
 *
 *   lemu-qmp-docgen               the Markdown on stdout
 *   lemu-qmp-docgen -o FILE       written to FILE
 *   lemu-qmp-docgen --check FILE  exit 1 when FILE differs (a test)
 */
#include <stdio.h>
#include <string.h>
#include "monitor/monitor-internal.h"

static int docgen_usage(const char *prog)
{
    fprintf(stderr, "usage: %s [-o FILE | --check FILE]\n", prog);
    return 2;
}

int main(int argc, char **argv)
{
    g_autoptr(GString) md = g_string_new(NULL);
    g_autoptr(GError) err = NULL;
    g_autofree char *old = NULL;
    gsize old_len;

    if (!qmp_schema_validate(&err)) {
        fprintf(stderr, "%s: the QMP tables are inconsistent: %s\n",
                argv[0], err->message);
        return 1;
    }
    qmp_schema_write_docs(md);

    if (argc == 1) {
        fwrite(md->str, 1, md->len, stdout);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    if (argc != 3) {
        return docgen_usage(argv[0]);
    }
    if (strcmp(argv[1], "-o") == 0) {
        if (!g_file_set_contents(argv[2], md->str, md->len, &err)) {
            fprintf(stderr, "%s: %s\n", argv[0], err->message);
            return 1;
        }
        return 0;
    }
    if (strcmp(argv[1], "--check") != 0) {
        return docgen_usage(argv[0]);
    }
    if (!g_file_get_contents(argv[2], &old, &old_len, &err)) {
        fprintf(stderr, "%s: %s\n", argv[0], err->message);
        return 1;
    }
    if (old_len != md->len || memcmp(old, md->str, md->len) != 0) {
        g_autofree char *doc = g_canonicalize_filename(argv[2], NULL);
        g_autofree char *prog = g_canonicalize_filename(argv[0], NULL);

        fprintf(stderr,
                "%s is out of date with monitor/qmp-commands.c.\n"
                "Regenerate it with:\n    %s -o %s\n", doc, prog, doc);
        return 1;
    }
    return 0;
}
