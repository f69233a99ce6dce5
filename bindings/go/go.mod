module libdtd/dtd

go 1.19
