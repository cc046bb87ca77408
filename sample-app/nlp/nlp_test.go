package nlp

import (
	"reflect"
	"strings"
	"testing"

	"github.com/pierhq/pier/sample-app/data"
)

// Floors under the held-out accuracy measured when the data set was written
// (see README.md); a change to the tokenizer, models or data that drops below
// them fails here.
var accuracyFloor = map[string]struct{ sentiment, topic float64 }{
	"bayes":  {0.80, 0.80},
	"logreg": {0.78, 0.80},
}

func TestHeldOutAccuracy(t *testing.T) {
	for _, model := range ModelNames() {
		t.Run(model, func(t *testing.T) {
			a, err := Train(model, data.Texts)
			if err != nil {
				t.Fatal(err)
			}
			floor, ok := accuracyFloor[model]
			if !ok {
				t.Fatalf("no accuracy floor for model %s: measure it and add it", model)
			}
			st := a.Stats
			t.Logf("%s: %d train, %d held out, sentiment %.3f, topic %.3f, trained in %.1fms",
				model, st.Train, st.HeldOut, st.SentimentAccuracy, st.TopicAccuracy, st.TrainMillis)
			if st.HeldOut < 80 {
				t.Errorf("held-out split has %d texts, want at least 80", st.HeldOut)
			}
			if st.SentimentAccuracy < floor.sentiment {
				t.Errorf("sentiment accuracy %.3f below floor %.2f", st.SentimentAccuracy, floor.sentiment)
			}
			if st.TopicAccuracy < floor.topic {
				t.Errorf("topic accuracy %.3f below floor %.2f", st.TopicAccuracy, floor.topic)
			}
		})
	}
}

func TestAnalyzeLabels(t *testing.T) {
	cases := []struct{ text, sentiment, topic string }{
		{"I love this laptop, the screen is gorgeous and it is so fast.", "positive", "technology"},
		{"The waiter was rude and the soup was cold and salty.", "negative", "food"},
		{"The train to the airport leaves every thirty minutes.", "neutral", "travel"},
		{"The team played brilliantly and won the championship final.", "positive", "sports"},
		{"The bank charged hidden fees and my savings lost value.", "negative", "finance"},
		{"The movie was not good.", "negative", ""},
	}
	for _, model := range ModelNames() {
		a, err := Train(model, data.Texts)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			r := a.Analyze(c.text, 2)
			if r.Sentiment.Label != c.sentiment || (c.topic != "" && r.Topic.Label != c.topic) {
				t.Errorf("%s: %q: got %s/%s, want %s/%s", model, c.text, r.Sentiment.Label, r.Topic.Label, c.sentiment, c.topic)
			}
			sum := 0.0
			for _, p := range r.Sentiment.Scores {
				sum += p
			}
			if sum < 0.99 || sum > 1.01 || len(r.Sentiment.Scores) != 3 || len(r.Topic.Scores) != 6 {
				t.Errorf("%s: scores %v / %v do not look like probabilities over every label", model, r.Sentiment.Scores, r.Topic.Scores)
			}
		}
	}
}

func TestTokens(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"The camera is GREAT!", []string{"camera", "great"}},
		{"It was not good, but the price was fine.", []string{"not_good", "price", "fine"}},
		{"I don't like delays", []string{"not_like", "not_delay"}},
		{"Hotels, flights and trains", []string{"hotel", "flight", "train"}},
	}
	for _, c := range cases {
		if got := Tokens(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Tokens(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSentences(t *testing.T) {
	got := Sentences("First one. Second one!  Third?\n\nA heading\nstill going. Last")
	want := []string{"First one.", "Second one!", "Third?", "A heading\nstill going.", "Last"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Sentences = %q, want %q", got, want)
	}
}

func TestSummarize(t *testing.T) {
	for _, method := range []string{TextRank, Centroid} {
		t.Run(method, func(t *testing.T) { testSummarize(t, method) })
	}
}

func testSummarize(t *testing.T, method string) {
	Summarize := func(text string, n int) []string { return SummarizeWith(method, text, n) }
	text := "The city council approved the new budget for schools. " +
		"My cat sleeps all day. " +
		"The budget gives schools more money for teachers and books. " +
		"Parents welcomed the budget for schools and teachers. " +
		"It rained on Tuesday."
	got := Summarize(text, 2)
	if len(got) != 2 {
		t.Fatalf("Summarize gave %d sentences, want 2: %q", len(got), got)
	}
	for _, s := range got {
		if !strings.Contains(s, "budget") {
			t.Errorf("summary picked an off-topic sentence %q; got %q", s, got)
		}
	}
	if !strings.HasPrefix(got[0], "The") || strings.HasPrefix(got[1], "The city") {
		t.Errorf("summary is not in the original order: %q", got)
	}
	if got := Summarize("Only one sentence here.", 3); len(got) != 1 {
		t.Errorf("short text: got %q, want the one sentence", got)
	}
	if got := Summarize("", 3); len(got) != 0 {
		t.Errorf("empty text: got %q, want nothing", got)
	}
}

// The two methods are different summaries: on this text TextRank picks the
// sentences most like the others, the centroid the ones covering the most
// of the text's words.
func TestSummaryMethodsDiffer(t *testing.T) {
	text := "Rain fell. The market rose on strong bank earnings and rising interest in tech shares. " +
		"Bank shares rose. Tech shares rose too. Investors were calm."
	tr, ce := Summarize(text, 1), SummarizeCentroid(text, 1)
	if want := []string{"Bank shares rose."}; !reflect.DeepEqual(tr, want) {
		t.Errorf("textrank picked %q, want %q", tr, want)
	}
	if want := []string{"The market rose on strong bank earnings and rising interest in tech shares."}; !reflect.DeepEqual(ce, want) {
		t.Errorf("centroid picked %q, want %q", ce, want)
	}
}

func TestParseExamplesErrors(t *testing.T) {
	for _, in := range []string{"", "# only a comment\n", "food|positive\n", "food||text\n", "food|positive|   \n"} {
		if _, err := ParseExamples(in); err == nil {
			t.Errorf("ParseExamples(%q) succeeded, want an error", in)
		}
	}
	_, err := ParseExamples("food|positive|ok\nbroken line\n")
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("error %v does not name line 2", err)
	}
}

func TestSplitIsFixedAndStratified(t *testing.T) {
	ex, err := ParseExamples(data.Texts)
	if err != nil {
		t.Fatal(err)
	}
	train1, held1 := Split(ex)
	train2, held2 := Split(ex)
	if !reflect.DeepEqual(held1, held2) || !reflect.DeepEqual(train1, train2) {
		t.Fatal("Split is not deterministic")
	}
	if len(train1)+len(held1) != len(ex) {
		t.Fatalf("split lost examples: %d + %d != %d", len(train1), len(held1), len(ex))
	}
	groups := map[string]int{}
	for _, e := range held1 {
		groups[e.Topic+"|"+e.Sentiment]++
	}
	if len(groups) != 18 {
		t.Errorf("held-out split covers %d topic/sentiment groups, want all 18", len(groups))
	}
	seen := map[string]bool{}
	for _, e := range train1 {
		seen[e.Text] = true
	}
	for _, e := range held1 {
		if seen[e.Text] {
			t.Errorf("held-out text also in training: %q", e.Text)
		}
	}
}

func TestUnknownModel(t *testing.T) {
	_, err := Train("gpt", data.Texts)
	if err == nil || !strings.Contains(err.Error(), "bayes") {
		t.Errorf("Train(gpt) error %v does not list the valid models", err)
	}
}

func BenchmarkAnalyze(b *testing.B) {
	a, err := Train("bayes", data.Texts)
	if err != nil {
		b.Fatal(err)
	}
	text := strings.Repeat("The hotel was lovely and the staff were kind. The train was late. ", 20)
	for b.Loop() {
		a.Analyze(text, 3)
	}
}
