// Command api prints its name and the Go that built it.
package main

import (
	"fmt"
	"runtime"
)

func main() { fmt.Println("api", runtime.Version()) }
