// Attack: an infinite CPU loop in one process.
int main(void) {
    volatile unsigned long n = 0;
    for (;;)
        n++;
}
