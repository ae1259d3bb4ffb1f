// unidesk-kernel: see kernel/README.md.
int main() { return 0; }
