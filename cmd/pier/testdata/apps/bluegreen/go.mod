module example.com/bluegreen

go 1.22
