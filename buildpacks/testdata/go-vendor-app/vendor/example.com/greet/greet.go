// Package greet is a vendored dependency that no proxy serves.
package greet

// Hello greets name.
func Hello(name string) string { return "hello, " + name }
