package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// maxBodyBytes bounds an API request's JSON body.
const maxBodyBytes = 1 << 20

// decodeBody reads one JSON value into v from a request body: at most
// maxBodyBytes, no unknown fields, and nothing but white space after it.
// Every failure is a 400 that says what is wrong.
func decodeBody(body io.Reader, v any) error {
	b, err := io.ReadAll(io.LimitReader(body, maxBodyBytes+1))
	if err != nil {
		return invalidf("reading the request body: %v", err)
	}
	if len(b) > maxBodyBytes {
		return invalidf("the request body is over %d KiB", maxBodyBytes>>10)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalidf("malformed request body: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalidf("malformed request body: unexpected data after the JSON body")
	}
	return nil
}
