package nlp

import (
	"fmt"
	"strings"
)

// Example is one labelled text of the data set.
type Example struct {
	Topic     string
	Sentiment string
	Text      string
}

// HeldOutEvery puts every fifth example of each (topic, sentiment) group in
// the held-out split, so the split is fixed and stratified.
const HeldOutEvery = 5

// ParseExamples reads lines of "topic|sentiment|text"; blank lines and lines
// starting with # are skipped. Errors name the line.
func ParseExamples(src string) ([]Example, error) {
	var out []Example
	for n, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.SplitN(line, "|", 3)
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" || strings.TrimSpace(parts[2]) == "" {
			return nil, fmt.Errorf("data line %d: want topic|sentiment|text, got %q", n+1, line)
		}
		out = append(out, Example{Topic: parts[0], Sentiment: parts[1], Text: strings.TrimSpace(parts[2])})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("data: no examples")
	}
	return out, nil
}

// Split divides examples into a training and a held-out set: within each
// (topic, sentiment) group, in file order, every HeldOutEvery-th example is
// held out.
func Split(examples []Example) (train, heldOut []Example) {
	seen := map[string]int{}
	for _, e := range examples {
		key := e.Topic + "|" + e.Sentiment
		seen[key]++
		if seen[key]%HeldOutEvery == 0 {
			heldOut = append(heldOut, e)
		} else {
			train = append(train, e)
		}
	}
	return train, heldOut
}
