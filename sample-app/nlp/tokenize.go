// Package nlp is the sample app's language toolkit: a tokenizer, two text
// classifiers (multinomial Naive Bayes and logistic regression) trained at
// start-up on the embedded data set, and an extractive summariser.
package nlp

import (
	"strings"
	"unicode"
)

// negators flip the meaning of the words after them up to the next
// punctuation mark: "not good" becomes the feature "not_good".
var negators = map[string]bool{
	"not": true, "no": true, "never": true, "nobody": true, "nothing": true,
	"cannot": true, "without": true, "hardly": true,
}

// stopwords carry no topic or sentiment; they are dropped from features.
var stopwords = toSet(`a an the and or but if of to in on at by for with from as is are was were be been
being it its this that these those there here i me my we our you your he she his her they them their
so than then too very just also about into over after before during while all any each every some
such own same do does did have has had will would can could should may might must am up down out off
again once what which who whom when where why how because until`)

func toSet(words string) map[string]bool {
	set := map[string]bool{}
	for _, w := range strings.Fields(words) {
		set[w] = true
	}
	return set
}

// Tokens splits text into lower-case word features. Words after a negator
// are prefixed with "not_" until the next punctuation mark; stopwords are
// dropped.
func Tokens(text string) []string {
	var out []string
	negate := false
	for _, w := range words(text) {
		if w == "," || w == "." {
			negate = false
			continue
		}
		if strings.HasSuffix(w, "n't") || negators[w] {
			negate = true
			continue
		}
		if stopwords[w] {
			continue
		}
		w = stem(w)
		if negate {
			w = "not_" + w
		}
		out = append(out, w)
	}
	return out
}

// words lower-cases text and returns its words, with "," and "." standing
// for any punctuation that ends a clause.
func words(text string) []string {
	var out []string
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			out = append(out, b.String())
			b.Reset()
		}
	}
	for _, r := range text {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(unicode.ToLower(r))
		case r == '\'' || r == '’':
			if b.Len() > 0 {
				b.WriteRune('\'')
			}
		case strings.ContainsRune(",;:!?.()", r):
			flush()
			out = append(out, ",")
		default:
			flush()
		}
	}
	flush()
	return out
}

// stem strips common English suffixes so that "delays", "delayed" and
// "delaying" share one feature. It is deliberately light: a small data set
// gains more from merging forms than it loses from the odd wrong cut.
func stem(w string) string {
	for _, suf := range []string{"ingly", "edly", "ings", "ing", "ness", "ful", "ly", "ies", "ied", "ed", "es", "s"} {
		if len(w) > len(suf)+3 && strings.HasSuffix(w, suf) {
			base := strings.TrimSuffix(w, suf)
			switch suf {
			case "ies", "ied":
				base += "y"
			case "es":
				if !strings.HasSuffix(base, "sh") && !strings.HasSuffix(base, "ch") && !strings.HasSuffix(base, "x") && !strings.HasSuffix(base, "ss") {
					base = w[:len(w)-1]
				}
			case "ly":
				if len(base) < 5 {
					return w
				}
			case "s":
				if strings.HasSuffix(w, "ss") || strings.HasSuffix(w, "us") {
					return w
				}
			}
			return base
		}
	}
	return w
}
