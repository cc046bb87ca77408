module example.com/brokenpier

go 1.22
