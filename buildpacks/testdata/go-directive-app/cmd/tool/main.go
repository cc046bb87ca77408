// Command tool prints its name and the Go that built it.
package main

import (
	"fmt"
	"runtime"
)

func main() { fmt.Println("tool", runtime.Version()) }
