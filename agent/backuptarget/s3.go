package backuptarget

import (
	"context"
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

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// An S3 target is s3://bucket[/prefix], on AWS or on any S3-compatible
// store (MinIO, Cloudflare R2, Backblaze B2, Ceph, ...). It reads, like the
// AWS tools do:
//
//	AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL   an S3-compatible endpoint (default: AWS)
//	AWS_REGION or AWS_DEFAULT_REGION          the region (default: asked of the endpoint)
//	AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
//	AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE  else ~/.aws/credentials
//	                                          else the instance's IAM role
//	PIER_S3_PATH_STYLE=true                   bucket in the path, not the host name
//
// and the same as URL parameters: s3://bucket/prefix?endpoint=URL&region=R&path-style=true.
// A backup is uploaded from a local file once it is complete and verified;
// S3 shows an object only when its upload (single or multipart) completes,
// so a failed upload leaves nothing under the backup's name.
type s3Target struct {
	loc    string // as the user wrote it, without parameters
	host   string // the endpoint, for errors
	bucket string
	prefix string // "" or "dir/sub/"
	client *minio.Client
	o      Options
}

func openS3(ctx context.Context, loc string, o Options) (*s3Target, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	u, err := url.Parse(loc)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%s is not an S3 location: write s3://bucket/prefix", redact(loc))
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s: credentials do not go in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", redact(loc))
	}
	q := u.Query()
	param := func(name string, env ...string) string {
		if v := q.Get(name); v != "" {
			return v
		}
		for _, e := range env {
			if v := o.Getenv(e); v != "" {
				return v
			}
		}
		return ""
	}
	endpoint := param("endpoint", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
	secure, hostPort := true, "s3.amazonaws.com"
	if endpoint != "" {
		eu, err := url.Parse(endpoint)
		if err != nil || eu.Host == "" || (eu.Scheme != "http" && eu.Scheme != "https") {
			return nil, fmt.Errorf("the S3 endpoint %q is not a URL: write http(s)://host[:port]", endpoint)
		}
		secure, hostPort = eu.Scheme == "https", eu.Host
	}
	lookup := minio.BucketLookupAuto
	if ps := param("path-style", "PIER_S3_PATH_STYLE"); ps != "" {
		on, err := strconv.ParseBool(ps)
		if err != nil {
			return nil, fmt.Errorf("path-style %q: write true or false", ps)
		}
		if on {
			lookup = minio.BucketLookupPath
		}
	}
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, err
	}
	tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = o.Timeout
	client, err := minio.New(hostPort, &minio.Options{
		Creds:        s3Credentials(o.Getenv),
		Secure:       secure,
		Region:       param("region", "AWS_REGION", "AWS_DEFAULT_REGION"),
		BucketLookup: lookup,
		Transport:    tr,
		MaxRetries:   3,
	})
	if err != nil {
		return nil, fmt.Errorf("setting up the S3 client for %s: %w", hostPort, err)
	}
	prefix := strings.Trim(u.Path, "/")
	if prefix != "" {
		prefix += "/"
	}
	u.RawQuery = ""
	t := &s3Target{loc: u.String(), host: hostPort, bucket: u.Host, prefix: prefix, client: client, o: o}
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

// s3Credentials are the AWS tools' credentials, in their order.
func s3Credentials(getenv func(string) string) *credentials.Credentials {
	var chain []credentials.Provider
	if id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
		return credentials.NewStaticV4(id, secret, getenv("AWS_SESSION_TOKEN"))
	}
	chain = append(chain,
		&credentials.FileAWSCredentials{Filename: getenv("AWS_SHARED_CREDENTIALS_FILE"), Profile: getenv("AWS_PROFILE")},
		&credentials.IAM{},
	)
	return credentials.NewChainCredentials(chain)
}

// check asks for the bucket, so a wrong endpoint, credentials or bucket
// show before a backup is made.
func (t *s3Target) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, t.o.Timeout)
	defer cancel()
	ok, err := t.client.BucketExists(ctx, t.bucket)
	if err != nil {
		return t.explain(err, "reach the bucket")
	}
	if !ok {
		return fmt.Errorf("the bucket %q does not exist at %s: create it first, or check its name (and the endpoint)", t.bucket, t.host)
	}
	return nil
}

func (t *s3Target) String() string { return t.loc }

func (t *s3Target) key(name string) string { return t.prefix + name }

func (t *s3Target) location(name string) string {
	return "s3://" + path.Join(t.bucket, t.key(name))
}

// explain turns an S3 error into one that says what to do, naming the
// endpoint and never a credential.
func (t *s3Target) explain(err error, doing string) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "NoSuchBucket":
		return fmt.Errorf("the bucket %q does not exist at %s: create it first, or check its name", t.bucket, t.host)
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken", "InvalidSecurity", "Forbidden":
		return fmt.Errorf("%s refused the credentials (%s) for bucket %q, trying to %s: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the profile or role), and that they may read, write, list and delete there", t.host, resp.Code, t.bucket, doing)
	case "":
	default:
		return fmt.Errorf("%s could not %s in bucket %q: %s (%s)", t.host, doing, t.bucket, resp.Code, resp.Message)
	}
	var ne net.Error
	var ue *url.Error
	switch {
	case errors.As(err, &ue):
		return fmt.Errorf("cannot reach the S3 endpoint %s to %s: %v: check the endpoint (AWS_ENDPOINT_URL) and the network", t.host, doing, ue.Err)
	case errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("cannot reach the S3 endpoint %s to %s: %v: check the endpoint (AWS_ENDPOINT_URL) and the network", t.host, doing, err)
	case strings.Contains(err.Error(), "credential") || strings.Contains(err.Error(), "Credential"):
		return fmt.Errorf("no S3 credentials for %s: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, or an instance role (%v)", t.host, err)
	}
	return fmt.Errorf("S3 %s, bucket %q: could not %s: %w", t.host, t.bucket, doing, err)
}

func (t *s3Target) Create(_ context.Context, name string) (Pending, error) {
	return newUploadPending(t.o.TempDir, name, t.upload)
}

// upload puts the backup. S3 shows the object only once the upload
// completes; a multipart upload that fails is aborted.
func (t *s3Target) upload(ctx context.Context, name string, r io.Reader, size int64) error {
	_, err := t.client.PutObject(ctx, t.bucket, t.key(name), r, size,
		minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return t.explain(err, "upload "+name)
	}
	return nil
}

func (t *s3Target) List(ctx context.Context) ([]Backup, error) {
	ctx, cancel := context.WithTimeout(ctx, t.o.Timeout)
	defer cancel()
	var list []Backup
	for obj := range t.client.ListObjects(ctx, t.bucket, minio.ListObjectsOptions{Prefix: t.prefix}) {
		if obj.Err != nil {
			return nil, t.explain(obj.Err, "list the backups")
		}
		name := strings.TrimPrefix(obj.Key, t.prefix)
		tm, enc, ok := ParseName(name)
		if !ok || strings.Contains(name, "/") {
			continue
		}
		list = append(list, Backup{Name: name, Location: t.location(name), Size: obj.Size, Time: tm, Encrypted: enc})
	}
	sortNewestFirst(list)
	return list, nil
}

func (t *s3Target) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	sctx, cancel := context.WithTimeout(ctx, t.o.Timeout)
	defer cancel()
	if _, err := t.client.StatObject(sctx, t.bucket, t.key(name), minio.StatObjectOptions{}); err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" || minio.ToErrorResponse(err).StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("%s: no such backup", t.location(name))
		}
		return nil, t.explain(err, "read "+name)
	}
	obj, err := t.client.GetObject(ctx, t.bucket, t.key(name), minio.GetObjectOptions{})
	if err != nil {
		return nil, t.explain(err, "read "+name)
	}
	return obj, nil
}

func (t *s3Target) Delete(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, t.o.Timeout)
	defer cancel()
	if err := t.client.RemoveObject(ctx, t.bucket, t.key(name), minio.RemoveObjectOptions{}); err != nil {
		return t.explain(err, "delete "+name)
	}
	return nil
}
