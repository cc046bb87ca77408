package agent

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// deliver sends req with client and reads (a little of) the answer, for
// what the agent sends out: webhooks, HTTPS drains, Sentry releases. The
// error never holds req's URL, which may be a secret (a Slack webhook's,
// a drain's token): net/http's url.Error wrapping is dropped. An answer
// outside 2xx is an error saying that who answered so; code is the
// answer's status, 0 when there was none.
func deliver(client *http.Client, req *http.Request, who string) (code int, err error) {
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("%s answered %s", who, resp.Status)
	}
	return resp.StatusCode, nil
}
