module example.com/cmdweb

go 1.21
