package nlp

import "math"

// bayes is a multinomial Naive Bayes classifier with add-alpha smoothing.
type bayes struct {
	labels   []string
	prior    []float64            // log P(label)
	logProb  []map[string]float64 // log P(word | label) for seen words
	unseen   []float64            // log P(word | label) for words not seen with label
	vocabLen int
}

// bayesAlpha is the smoothing added to every word count.
const bayesAlpha = 0.5

// bayesTemperWords is the text length over which scores are tempered.
const bayesTemperWords = 4

// TrainBayes fits a multinomial Naive Bayes classifier.
func TrainBayes(docs [][]string, labels []string) Classifier {
	b := &bayes{labels: sortedLabels(labels)}
	index := map[string]int{}
	for i, l := range b.labels {
		index[l] = i
	}
	counts := make([]map[string]float64, len(b.labels))
	totals := make([]float64, len(b.labels))
	docsPer := make([]float64, len(b.labels))
	vocab := map[string]bool{}
	for i := range counts {
		counts[i] = map[string]float64{}
	}
	for d, doc := range docs {
		k := index[labels[d]]
		docsPer[k]++
		for _, w := range doc {
			counts[k][w]++
			totals[k]++
			vocab[w] = true
		}
	}
	b.vocabLen = len(vocab)
	for k := range b.labels {
		denom := totals[k] + bayesAlpha*float64(len(vocab))
		lp := make(map[string]float64, len(counts[k]))
		for w, c := range counts[k] {
			lp[w] = math.Log((c + bayesAlpha) / denom)
		}
		b.logProb = append(b.logProb, lp)
		b.unseen = append(b.unseen, math.Log(bayesAlpha/denom))
		b.prior = append(b.prior, math.Log(docsPer[k]/float64(len(docs))))
	}
	return b
}

func (b *bayes) Predict(tokens []string) Prediction {
	logits := make([]float64, len(b.labels))
	for k := range b.labels {
		s := b.prior[k]
		for _, w := range tokens {
			if lp, ok := b.logProb[k][w]; ok {
				s += lp
			} else if b.known(w) {
				s += b.unseen[k]
			}
		}
		logits[k] = s
	}
	// Naive Bayes counts every word as independent evidence, which makes its
	// raw probabilities wildly overconfident on long texts. Tempering by the
	// text's length keeps the ranking and gives scores a reader can use.
	temper := 1 + float64(len(tokens))/bayesTemperWords
	for k := range logits {
		logits[k] /= temper
	}
	return softmax(b.labels, logits)
}

// known reports whether any label saw w; words never seen in training are
// ignored rather than counted against every label alike.
func (b *bayes) known(w string) bool {
	for k := range b.labels {
		if _, ok := b.logProb[k][w]; ok {
			return true
		}
	}
	return false
}
