package nlp

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Analyzer holds a sentiment and a topic classifier trained on one data set.
type Analyzer struct {
	Model     string
	sentiment Classifier
	topic     Classifier
	idf       map[string]float64
	maxIDF    float64
	Stats     Stats
}

// Stats describes the data set and how well the model does on its
// held-out split.
type Stats struct {
	Examples          int     `json:"examples"`
	Train             int     `json:"train"`
	HeldOut           int     `json:"held_out"`
	SentimentAccuracy float64 `json:"sentiment_accuracy"`
	TopicAccuracy     float64 `json:"topic_accuracy"`
	TrainMillis       float64 `json:"train_ms"`
}

// Result is the analysis of one text.
type Result struct {
	Sentiment Prediction `json:"sentiment"`
	Topic     Prediction `json:"topic"`
	Summary   []string   `json:"summary"`
	Method    string     `json:"summary_method"` // TextRank or Centroid
	Keywords  []string   `json:"keywords"`
}

// Train parses the data set, trains the named model on its training split
// and measures it on the held-out split.
func Train(model, dataset string) (*Analyzer, error) {
	trainer, err := TrainerFor(model)
	if err != nil {
		return nil, err
	}
	examples, err := ParseExamples(dataset)
	if err != nil {
		return nil, err
	}
	train, heldOut := Split(examples)
	if len(heldOut) == 0 {
		return nil, fmt.Errorf("data: %d examples leave nothing to hold out", len(examples))
	}
	start := time.Now()
	docs := make([][]string, len(train))
	sentiments := make([]string, len(train))
	topics := make([]string, len(train))
	for i, e := range train {
		docs[i], sentiments[i], topics[i] = Tokens(e.Text), e.Sentiment, e.Topic
	}
	opinionDocs := make([][]string, len(docs))
	for i, d := range docs {
		opinionDocs[i] = withLexicon(d)
	}
	a := &Analyzer{Model: model, sentiment: trainer(opinionDocs, sentiments), topic: trainer(docs, topics)}
	a.idf, a.maxIDF = corpusIDF(docs)
	a.Stats = Stats{
		Examples:    len(examples),
		Train:       len(train),
		HeldOut:     len(heldOut),
		TrainMillis: millis(time.Since(start)),
	}
	a.Stats.SentimentAccuracy, a.Stats.TopicAccuracy = a.Evaluate(heldOut)
	return a, nil
}

// Evaluate returns the share of examples whose sentiment and topic the
// analyzer gets right.
func (a *Analyzer) Evaluate(examples []Example) (sentiment, topic float64) {
	var s, t int
	for _, e := range examples {
		tokens := Tokens(e.Text)
		if a.sentiment.Predict(withLexicon(tokens)).Label == e.Sentiment {
			s++
		}
		if a.topic.Predict(tokens).Label == e.Topic {
			t++
		}
	}
	n := float64(len(examples))
	return float64(s) / n, float64(t) / n
}

// Analyze classifies text and summarises it in at most sentences sentences
// with TextRank.
func (a *Analyzer) Analyze(text string, sentences int) Result {
	return a.AnalyzeWith(text, sentences, TextRank)
}

// AnalyzeWith is Analyze with the summary method (TextRank or Centroid).
func (a *Analyzer) AnalyzeWith(text string, sentences int, method string) Result {
	if method != Centroid {
		method = TextRank
	}
	tokens := Tokens(text)
	return Result{
		Sentiment: a.sentiment.Predict(withLexicon(tokens)),
		Topic:     a.topic.Predict(tokens),
		Summary:   SummarizeWith(method, text, sentences),
		Method:    method,
		Keywords:  a.keywords(text, 5),
	}
}

// keywords returns the n words of a text with the highest TF-IDF, where the
// IDF comes from the training corpus and unseen words count as rarest. Words
// are scored by their stem and shown as they first appear.
func (a *Analyzer) keywords(text string, n int) []string {
	tf := map[string]float64{}
	shown := map[string]string{}
	for _, w := range words(text) {
		if len([]rune(w)) <= 2 || stopwords[w] || negators[w] || strings.Contains(w, "'") {
			continue
		}
		s := stem(w)
		tf[s]++
		if _, ok := shown[s]; !ok {
			shown[s] = w
		}
	}
	stems := make([]string, 0, len(tf))
	score := make(map[string]float64, len(tf))
	for s, c := range tf {
		idf, ok := a.idf[s]
		if !ok {
			idf = a.maxIDF
		}
		stems = append(stems, s)
		score[s] = c * idf
	}
	sort.Slice(stems, func(i, j int) bool {
		if score[stems[i]] != score[stems[j]] {
			return score[stems[i]] > score[stems[j]]
		}
		return stems[i] < stems[j]
	})
	if len(stems) > n {
		stems = stems[:n]
	}
	out := make([]string, len(stems))
	for i, s := range stems {
		out[i] = shown[s]
	}
	return out
}

func corpusIDF(docs [][]string) (map[string]float64, float64) {
	df := map[string]float64{}
	for _, d := range docs {
		for _, w := range unique(d) {
			df[w]++
		}
	}
	n := float64(len(docs))
	idf := make(map[string]float64, len(df))
	for w, c := range df {
		idf[w] = math.Log((n + 1) / (c + 1))
	}
	return idf, math.Log(n + 1)
}

func millis(d time.Duration) float64 {
	return math.Round(float64(d.Microseconds())) / 1000
}
