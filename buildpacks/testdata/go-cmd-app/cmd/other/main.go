// Command other is a second process type.
package main

import "fmt"

func main() { fmt.Println("other") }
