// Command worker prints one line and exits.
package main

import "fmt"

func main() { fmt.Println("worker ran") }
