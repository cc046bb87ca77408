package nlp

import (
	"math"
	"math/rand/v2"
)

// logReg is a multinomial logistic regression over binary word features,
// trained by stochastic gradient descent with L2 regularisation.
type logReg struct {
	labels  []string
	weights map[string][]float64 // word -> weight per label
	bias    []float64
}

const (
	logRegEpochs = 40
	logRegRate   = 0.5
	logRegL2     = 1e-4
	logRegSeed   = 7 // a fixed seed keeps training deterministic
)

// TrainLogReg fits a logistic regression classifier.
func TrainLogReg(docs [][]string, labels []string) Classifier {
	m := &logReg{labels: sortedLabels(labels), weights: map[string][]float64{}}
	m.bias = make([]float64, len(m.labels))
	index := map[string]int{}
	for i, l := range m.labels {
		index[l] = i
	}
	feats := make([][]string, len(docs))
	for i, d := range docs {
		feats[i] = unique(d)
		for _, w := range feats[i] {
			if m.weights[w] == nil {
				m.weights[w] = make([]float64, len(m.labels))
			}
		}
	}
	order := make([]int, len(docs))
	for i := range order {
		order[i] = i
	}
	rng := rand.New(rand.NewPCG(logRegSeed, logRegSeed))
	for epoch := 0; epoch < logRegEpochs; epoch++ {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		rate := logRegRate / (1 + float64(epoch)/10)
		for _, i := range order {
			m.step(feats[i], index[labels[i]], rate)
		}
	}
	return m
}

// step moves the weights one gradient step towards label want for a doc.
func (m *logReg) step(feats []string, want int, rate float64) {
	p := m.probs(feats)
	for k := range m.labels {
		g := p[k]
		if k == want {
			g -= 1
		}
		m.bias[k] -= rate * g
		for _, w := range feats {
			wk := m.weights[w]
			wk[k] -= rate * (g + logRegL2*wk[k])
		}
	}
}

func (m *logReg) logits(feats []string) []float64 {
	out := make([]float64, len(m.labels))
	copy(out, m.bias)
	for _, w := range feats {
		if wk, ok := m.weights[w]; ok {
			for k := range out {
				out[k] += wk[k]
			}
		}
	}
	return out
}

func (m *logReg) probs(feats []string) []float64 {
	l := m.logits(feats)
	top := math.Inf(-1)
	for _, v := range l {
		top = math.Max(top, v)
	}
	sum := 0.0
	for k, v := range l {
		l[k] = math.Exp(v - top)
		sum += l[k]
	}
	for k := range l {
		l[k] /= sum
	}
	return l
}

func (m *logReg) Predict(tokens []string) Prediction {
	return softmax(m.labels, m.logits(unique(tokens)))
}

func unique(tokens []string) []string {
	seen := make(map[string]bool, len(tokens))
	out := make([]string, 0, len(tokens))
	for _, t := range tokens {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}
