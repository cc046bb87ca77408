// Command greeter prints a greeting built by a vendored package.
package main

import (
	"fmt"

	"example.com/greet"
)

var who = "default"

func main() { fmt.Println(greet.Hello(who)) }
