module example.com/pinned

go 1.21

toolchain go1.22.5
