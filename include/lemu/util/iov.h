/*
 * Scatter/gather lists (struct iovec arrays): the helpers the block layer
 * and the virtio devices share. Offsets and sizes are in bytes from the
 * start of the list; elements may have length 0.
 */
#ifndef LEMU_UTIL_IOV_H
#define LEMU_UTIL_IOV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Copies up to @bytes from @buf into the list at @offset; returns how
 * many fitted. */
size_t iov_from_buf(const struct iovec *iov, unsigned niov, size_t offset,
                    const void *buf, size_t bytes);
/* Copies up to @bytes of the list at @offset into @buf; returns how many
 * there were. */
size_t iov_to_buf(const struct iovec *iov, unsigned niov, size_t offset,
                  void *buf, size_t bytes);
/* Fills up to @bytes of the list at @offset with @c (SIZE_MAX: to the
 * end); returns how many. */
size_t iov_memset(const struct iovec *iov, unsigned niov, size_t offset,
                  int c, size_t bytes);
/* The part [@offset, @offset + @bytes) of @src as elements of @dst, which
 * has room for @src_n; returns how many it used. */
unsigned iov_slice(const struct iovec *src, unsigned src_n, uint64_t offset,
                   uint64_t bytes, struct iovec *dst);
/* The same part as a new array (g_free); its length in *@niov_out. */
struct iovec *iov_slice_dup(const struct iovec *src, unsigned src_n,
                            uint64_t offset, uint64_t bytes, int *niov_out);
/* Moves the start of the list (*@iov, *@niov elements, changed in place)
 * past @n bytes, and past empty elements after them. */
void iov_advance(struct iovec **iov, int *niov, size_t n);

#endif
