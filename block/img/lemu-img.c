/* Placeholder: being written. */
#include <stdio.h>
int main(void)
{
    fprintf(stderr, "lemu-img: not built yet\n");
    return 1;
}
