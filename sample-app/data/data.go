// Package data holds the labelled texts the sample app's classifiers learn
// from. The texts were written for this app; each line of texts.txt reads
// "topic|sentiment|text".
package data

import _ "embed"

// Texts is the content of texts.txt.
//
//go:embed texts.txt
var Texts string
