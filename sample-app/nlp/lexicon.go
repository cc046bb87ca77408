package nlp

import "strings"

// The sentiment lexicon adds three summary features to the words of a text:
// lexPositive and lexNegative once per opinion word (a negated word counts
// for the other side), and lexNone when a text holds no opinion word at all.
// The classifiers learn from the data how much each feature weighs; the
// lexicon only lets a small data set generalise to opinion words it lacks.
const (
	lexPositive = "__positive_word__"
	lexNegative = "__negative_word__"
	lexNone     = "__no_opinion__"
)

var positiveWords = stemSet(`good great excellent amazing wonderful brilliant fantastic superb
perfect perfectly love loved lovely delightful delighted delicious tasty fresh happy glad pleased
enjoy enjoyed beautiful beautifully best better impressive impressed awesome outstanding
incredible nice friendly kind helpful reliable smooth fast easy easily comfortable relaxing
relaxed calm charming stunning thrilling thrilled exciting excited fun joy recommend
recommended success successful win won winning victory improve improved healthy strong stronger
grateful relief solid superb divine heavenly generous clean cosy cozy safe painless effective
gorgeous breathtaking unforgettable spectacular ecstatic hopeful proud rich tender juicy crisp
fluffy favourite favorite pleasant surprise surprisingly record exceeded worth positive`)

var negativeWords = stemSet(`bad terrible awful horrible poor worse worst hate hated disappointing
disappointed disappoint useless broken broke buggy slow crash crashed crashes fail failed failure
failing error errors problem problems issue issues rude dirty noisy cold bland stale burnt
overpriced expensive angry annoying frustrating frustrated boring sad sick pain painful hurt
hurts injured injury disaster mess lost lose losing loss delayed delay cancelled canceled
stranded stolen stole scam scammed refused refuse ignored missing miserable nightmare ugly unsafe
worried worry anxious exhausted tired weak nasty disgusting inedible soggy greasy tough wilted
sour bitter flooded crowded overcrowded collapsed collapse plunged panic panicked struggling
debt bankrupt recession outrageous shameful embarrassing ruined ruin wasted waste lag laggy
glitch glitches freezes froze overheats leak leaked unbearable damage damaged hidden negative`)

func stemSet(words string) map[string]bool {
	set := map[string]bool{}
	for _, w := range strings.Fields(words) {
		set[stem(w)] = true
	}
	return set
}

// withLexicon returns tokens followed by the lexicon features for them.
func withLexicon(tokens []string) []string {
	out := append([]string(nil), tokens...)
	found := false
	for _, t := range tokens {
		neg := strings.HasPrefix(t, "not_")
		w := strings.TrimPrefix(t, "not_")
		pos, bad := positiveWords[w], negativeWords[w]
		if neg {
			pos, bad = bad, pos
		}
		switch {
		case pos:
			out = append(out, lexPositive)
			found = true
		case bad:
			out = append(out, lexNegative)
			found = true
		}
	}
	if !found {
		out = append(out, lexNone)
	}
	return out
}
