package nlp

import (
	"math"
	"regexp"
	"sort"
	"strings"
)

// sentenceEnd matches the end of a sentence: terminal punctuation followed
// by white space, or a blank line.
var sentenceEnd = regexp.MustCompile(`([.!?]+["')\]]*)\s+|\n\s*\n`)

// Sentences splits text into trimmed sentences.
func Sentences(text string) []string {
	var out []string
	last := 0
	for _, m := range sentenceEnd.FindAllStringSubmatchIndex(text, -1) {
		end := m[1]
		if m[2] >= 0 {
			end = m[3] // keep the punctuation, drop the space
		}
		if s := strings.TrimSpace(text[last:end]); s != "" {
			out = append(out, s)
		}
		last = m[1]
	}
	if s := strings.TrimSpace(text[last:]); s != "" {
		out = append(out, s)
	}
	return out
}

// Summary methods: how a summary picks its sentences.
const (
	TextRank = "textrank" // the default
	Centroid = "centroid" // the new method behind the NEW_SUMMARY flag
)

// Summarize picks the n most central sentences of text with TextRank over
// TF-IDF sentence vectors and returns them in their original order.
func Summarize(text string, n int) []string {
	return summarize(text, n, textRank)
}

// SummarizeCentroid picks the n sentences of text that cover most of the
// text's TF-IDF centroid (the mean of its sentence vectors: the sum of the
// centroid's weights of the words a sentence holds) and returns them in
// their original order. It favours sentences that hold many of the text's
// words, where TextRank favours sentences like many others.
func SummarizeCentroid(text string, n int) []string {
	return summarize(text, n, centroidScores)
}

// SummarizeWith summarises by method (TextRank or Centroid; anything else
// is TextRank).
func SummarizeWith(method, text string, n int) []string {
	if method == Centroid {
		return SummarizeCentroid(text, n)
	}
	return Summarize(text, n)
}

// summarize returns the n sentences of text that score highest, in their
// original order.
func summarize(text string, n int, score func([]map[string]float64) []float64) []string {
	sents := Sentences(text)
	if n <= 0 {
		return []string{}
	}
	if len(sents) <= n {
		return sents
	}
	rank := score(tfidf(sents))
	for i, r := range rank {
		// The sums behind a score run over maps, in an order that changes
		// from run to run, so sentences that tie exactly (the same words
		// but one, equally rare) differ in their last bits: rounded, they
		// tie, and the earlier sentence wins every time.
		rank[i] = math.Round(r*1e9) / 1e9
	}
	idx := make([]int, len(sents))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return rank[idx[a]] > rank[idx[b]] })
	idx = idx[:n]
	sort.Ints(idx)
	out := make([]string, n)
	for i, j := range idx {
		out[i] = sents[j]
	}
	return out
}

// centroidScores is, for each vector, the sum of the vectors' mean over the
// words the vector holds.
func centroidScores(vecs []map[string]float64) []float64 {
	mean := map[string]float64{}
	for _, v := range vecs {
		for w, x := range v {
			mean[w] += x / float64(len(vecs))
		}
	}
	out := make([]float64, len(vecs))
	for i, v := range vecs {
		for w := range v {
			out[i] += mean[w]
		}
	}
	return out
}

// tfidf returns a unit-length TF-IDF vector per sentence, with the IDF taken
// over the sentences themselves.
func tfidf(sents []string) []map[string]float64 {
	df := map[string]float64{}
	tfs := make([]map[string]float64, len(sents))
	for i, s := range sents {
		tfs[i] = map[string]float64{}
		for _, w := range Tokens(s) {
			tfs[i][w]++
		}
		for w := range tfs[i] {
			df[w]++
		}
	}
	n := float64(len(sents))
	for _, tf := range tfs {
		norm := 0.0
		for w, c := range tf {
			tf[w] = c * (1 + math.Log(n/df[w]))
			norm += tf[w] * tf[w]
		}
		norm = math.Sqrt(norm)
		for w := range tf {
			tf[w] /= norm
		}
	}
	return tfs
}

// textRank runs PageRank over the cosine-similarity graph of the vectors.
func textRank(vecs []map[string]float64) []float64 {
	const damping, iterations = 0.85, 30
	n := len(vecs)
	sim := make([][]float64, n)
	outSum := make([]float64, n)
	for i := range vecs {
		sim[i] = make([]float64, n)
		for j := range vecs {
			if i != j {
				sim[i][j] = dot(vecs[i], vecs[j])
				outSum[i] += sim[i][j]
			}
		}
	}
	rank := make([]float64, n)
	for i := range rank {
		rank[i] = 1 / float64(n)
	}
	next := make([]float64, n)
	for it := 0; it < iterations; it++ {
		for i := range next {
			s := 0.0
			for j := range vecs {
				if outSum[j] > 0 {
					s += sim[j][i] / outSum[j] * rank[j]
				}
			}
			next[i] = (1-damping)/float64(n) + damping*s
		}
		rank, next = next, rank
	}
	return rank
}

func dot(a, b map[string]float64) float64 {
	if len(a) > len(b) {
		a, b = b, a
	}
	s := 0.0
	for w, v := range a {
		s += v * b[w]
	}
	return s
}
