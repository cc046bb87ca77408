package backuptarget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// A GCS target is gs://bucket[/prefix] in Google Cloud Storage. It signs in
// as Google's tools do (Application Default Credentials, through
// golang.org/x/oauth2/google):
//
//	GOOGLE_APPLICATION_CREDENTIALS   a service account key file
//	                                 else gcloud's application-default login
//	                                 else the VM's service account (metadata server)
//	STORAGE_EMULATOR_HOST=host:port  a local emulator instead, without credentials
//
// It speaks Cloud Storage's JSON API itself, four calls of it (list,
// upload, download, delete): Google's storage client library would add
// about 30 MB to pier's binary and 16 MB to every agent's resident memory,
// for what these few requests do.
//
// A backup is uploaded from a local file once it is complete and verified,
// in one request; Cloud Storage shows an object only once its upload is
// complete, so a failed upload leaves nothing under the backup's name.
type gcsTarget struct {
	loc    string // gs://bucket[/prefix], as the user wrote it
	bucket string
	prefix string // "" or "dir/sub/"
	base   string // https://storage.googleapis.com, or the emulator's URL
	client *http.Client
	o      Options
}

const gcsScope = "https://www.googleapis.com/auth/devstorage.read_write"

func openGCS(ctx context.Context, loc string, o Options) (*gcsTarget, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	u, err := url.Parse(loc)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%s is not a Cloud Storage location: write gs://bucket/prefix", redact(loc))
	}
	if u.User != nil || u.RawQuery != "" {
		return nil, fmt.Errorf("%s: write gs://bucket/prefix alone; credentials come from GOOGLE_APPLICATION_CREDENTIALS or the VM's service account", redact(loc))
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: o.Timeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
	}
	t := &gcsTarget{bucket: u.Host, base: "https://storage.googleapis.com", client: &http.Client{Transport: tr}, o: o}
	if host := o.Getenv("STORAGE_EMULATOR_HOST"); host != "" {
		t.base = strings.TrimSuffix(host, "/")
		if !strings.Contains(t.base, "://") {
			t.base = "http://" + t.base
		}
	} else {
		creds, err := gcsCredentials(ctx, o.Getenv)
		if err != nil {
			return nil, fmt.Errorf("no Google Cloud credentials for %s: set GOOGLE_APPLICATION_CREDENTIALS to a service account key, or run on a VM with a service account (%v)", redact(loc), err)
		}
		t.client = oauth2.NewClient(context.WithValue(context.Background(), oauth2.HTTPClient, t.client), creds.TokenSource)
	}
	t.prefix = strings.Trim(u.Path, "/")
	if t.prefix != "" {
		t.prefix += "/"
	}
	t.loc = "gs://" + u.Host + strings.TrimSuffix("/"+t.prefix, "/")
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

// gcsCredentials are Application Default Credentials, reading the key
// file's name through getenv.
func gcsCredentials(ctx context.Context, getenv func(string) string) (*google.Credentials, error) {
	if file := getenv("GOOGLE_APPLICATION_CREDENTIALS"); file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("GOOGLE_APPLICATION_CREDENTIALS: %w", err)
		}
		return google.CredentialsFromJSONWithType(ctx, b, google.ServiceAccount, gcsScope)
	}
	return google.FindDefaultCredentials(ctx, gcsScope)
}

// check lists one object of the bucket, so wrong credentials or a wrong
// bucket show before a backup is made. It lists rather than reads the
// bucket's metadata: roles/storage.objectAdmin, all a host needs, may list
// objects but not read the bucket.
func (t *gcsTarget) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, t.o.Timeout)
	defer cancel()
	_, _, err := t.listPage(ctx, "", 1)
	if err != nil {
		return t.explain(err, "reach the bucket")
	}
	return nil
}

func (t *gcsTarget) String() string { return t.loc }

func (t *gcsTarget) key(name string) string { return t.prefix + name }

func (t *gcsTarget) location(name string) string {
	return "gs://" + path.Join(t.bucket, t.key(name))
}

func (t *gcsTarget) objectURL(name string) string {
	return t.base + "/storage/v1/b/" + url.PathEscape(t.bucket) + "/o/" + url.PathEscape(t.key(name))
}

// gcsError is an answer of the JSON API that is not a success.
type gcsError struct {
	Code    int
	Message string
}

func (e *gcsError) Error() string { return fmt.Sprintf("%d %s", e.Code, e.Message) }

// do sends req and returns the answer when it is a success, else a
// *gcsError with the API's message.
func (t *gcsTarget) do(req *http.Request) (*http.Response, error) {
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	var body struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &body) != nil || body.Error.Message == "" {
		body.Error.Message = http.StatusText(resp.StatusCode)
	}
	return nil, &gcsError{Code: resp.StatusCode, Message: body.Error.Message}
}

// explain turns a Cloud Storage error into one that says what to do.
func (t *gcsTarget) explain(err error, doing string) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	var ge *gcsError
	if errors.As(err, &ge) {
		switch ge.Code {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("Cloud Storage refused the credentials for bucket %q, trying to %s (%s): give the service account roles/storage.objectAdmin on the bucket (or check GOOGLE_APPLICATION_CREDENTIALS)", t.bucket, doing, ge.Message)
		case http.StatusNotFound:
			return fmt.Errorf("the bucket %q does not exist in Cloud Storage: create it first, or check its name", t.bucket)
		}
		return fmt.Errorf("Cloud Storage could not %s in bucket %q: %s", doing, t.bucket, ge)
	}
	var ne net.Error
	var ue *url.Error
	if errors.As(err, &ue) || errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("cannot reach Cloud Storage (%s) to %s: %v: check the network (or STORAGE_EMULATOR_HOST)", t.base, doing, err)
	}
	return fmt.Errorf("Cloud Storage, bucket %q: could not %s: %w", t.bucket, doing, err)
}

func (t *gcsTarget) Create(_ context.Context, name string) (Pending, error) {
	return newUploadPending(t.o.TempDir, name, t.upload)
}

// upload sends the backup in one request; the object exists only once the
// request has completed.
func (t *gcsTarget) upload(ctx context.Context, name string, r io.Reader, size int64) error {
	u := t.base + "/upload/storage/v1/b/" + url.PathEscape(t.bucket) + "/o?uploadType=media&name=" + url.QueryEscape(t.key(name))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, io.NopCloser(r))
	if err != nil {
		return err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := t.do(req)
	if err != nil {
		return t.explain(err, "upload "+name)
	}
	resp.Body.Close()
	return nil
}

type gcsObject struct {
	Name string `json:"name"`
	Size string `json:"size"` // a decimal string, as the API writes it
}

// listPage lists up to max objects under the prefix from the page token.
func (t *gcsTarget) listPage(ctx context.Context, token string, max int) ([]gcsObject, string, error) {
	q := url.Values{"prefix": {t.prefix}, "fields": {"items(name,size),nextPageToken"}}
	if token != "" {
		q.Set("pageToken", token)
	}
	if max > 0 {
		q.Set("maxResults", strconv.Itoa(max))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+"/storage/v1/b/"+url.PathEscape(t.bucket)+"/o?"+q.Encode(), nil)
	if err != nil {
		return nil, "", err
	}
	resp, err := t.do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	var page struct {
		Items         []gcsObject `json:"items"`
		NextPageToken string      `json:"nextPageToken"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&page); err != nil {
		return nil, "", fmt.Errorf("reading the list of objects: %w", err)
	}
	return page.Items, page.NextPageToken, nil
}

func (t *gcsTarget) List(ctx context.Context) ([]Backup, error) {
	ctx, cancel := context.WithTimeout(ctx, t.o.Timeout)
	defer cancel()
	var list []Backup
	for token, pages := "", 0; pages == 0 || token != ""; pages++ {
		if pages == 1000 {
			return nil, fmt.Errorf("gs://%s/%s holds more than 1,000 pages of objects: give backups a prefix of their own", t.bucket, t.prefix)
		}
		items, next, err := t.listPage(ctx, token, 0)
		if err != nil {
			return nil, t.explain(err, "list the backups")
		}
		for _, obj := range items {
			name := strings.TrimPrefix(obj.Name, t.prefix)
			tm, enc, ok := ParseName(name)
			if !ok || strings.Contains(name, "/") {
				continue
			}
			size, _ := strconv.ParseInt(obj.Size, 10, 64)
			list = append(list, Backup{Name: name, Location: t.location(name), Size: size, Time: tm, Encrypted: enc})
		}
		token = next
	}
	sortNewestFirst(list)
	return list, nil
}

func (t *gcsTarget) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.objectURL(name)+"?alt=media", nil)
	if err != nil {
		return nil, err
	}
	resp, err := t.do(req)
	var ge *gcsError
	if errors.As(err, &ge) && ge.Code == http.StatusNotFound {
		return nil, fmt.Errorf("%s: no such backup", t.location(name))
	}
	if err != nil {
		return nil, t.explain(err, "read "+name)
	}
	return resp.Body, nil
}

func (t *gcsTarget) Delete(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, t.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, t.objectURL(name), nil)
	if err != nil {
		return err
	}
	resp, err := t.do(req)
	var ge *gcsError
	if errors.As(err, &ge) && ge.Code == http.StatusNotFound {
		return nil
	}
	if err != nil {
		return t.explain(err, "delete "+name)
	}
	resp.Body.Close()
	return nil
}
