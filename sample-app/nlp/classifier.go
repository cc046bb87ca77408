package nlp

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// Prediction is a classifier's answer: the best label and a probability for
// every label.
type Prediction struct {
	Label  string             `json:"label"`
	Scores map[string]float64 `json:"scores"`
}

// Classifier labels a tokenized text.
type Classifier interface {
	Predict(tokens []string) Prediction
}

// Trainer fits a classifier to tokenized documents and their labels.
type Trainer func(docs [][]string, labels []string) Classifier

// Models are the classifiers MODEL can name.
var Models = map[string]Trainer{
	"bayes":  TrainBayes,
	"logreg": TrainLogReg,
}

// ModelNames lists the valid MODEL values in order.
func ModelNames() []string {
	names := make([]string, 0, len(Models))
	for n := range Models {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TrainerFor returns the trainer named by model.
func TrainerFor(model string) (Trainer, error) {
	t, ok := Models[model]
	if !ok {
		return nil, fmt.Errorf("unknown model %q: choose one of %v", model, ModelNames())
	}
	return t, nil
}

// sortedLabels returns the distinct labels in order.
func sortedLabels(labels []string) []string {
	out := slices.Clone(labels)
	slices.Sort(out)
	return slices.Compact(out)
}

// softmax turns per-label log scores into probabilities and picks the best
// label; ties go to the first label in order.
func softmax(labels []string, logits []float64) Prediction {
	top := math.Inf(-1)
	best := 0
	for i, v := range logits {
		if v > top {
			top, best = v, i
		}
	}
	sum := 0.0
	probs := make([]float64, len(logits))
	for i, v := range logits {
		probs[i] = math.Exp(v - top)
		sum += probs[i]
	}
	p := Prediction{Label: labels[best], Scores: make(map[string]float64, len(labels))}
	for i, l := range labels {
		p.Scores[l] = math.Round(probs[i]/sum*1000) / 1000
	}
	return p
}
