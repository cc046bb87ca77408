package nomad

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"

	"github.com/hashicorp/nomad/api"
)

// The allocation file-system calls go through the servers, which forward
// them to the client node: the agent need not reach the clients' HTTP
// port, and one connection pool serves them all (the api package's own
// AllocFS makes a new client, and pool, per call to reach a node).

// fsStat returns the file info of path in the allocation's directory.
func (s *Scheduler) fsStat(ctx context.Context, allocID, path string) (*api.AllocFileInfo, error) {
	q := query(ctx)
	q.Params = map[string]string{"path": path}
	var fi api.AllocFileInfo
	if _, err := s.c.Raw().Query("/v1/client/fs/stat/"+allocID, &fi, q); err != nil {
		return nil, err
	}
	return &fi, nil
}

// fsCat returns the content of path in the allocation's directory.
func (s *Scheduler) fsCat(ctx context.Context, allocID, path string) (io.ReadCloser, error) {
	q := query(ctx)
	q.Params = map[string]string{"path": path}
	return s.c.Raw().Response("/v1/client/fs/cat/"+allocID, q)
}

// fsLogs streams a task's stdout or stderr from offset bytes before its
// end and passes the data of each frame to fn, until the log ends (follow
// false), ctx ends or fn fails.
func (s *Scheduler) fsLogs(ctx context.Context, allocID, task, typ string, follow bool, offset int64, fn func([]byte) error) error {
	q := query(ctx)
	q.Params = map[string]string{
		"task": task, "type": typ, "follow": strconv.FormatBool(follow),
		"origin": api.OriginEnd, "offset": strconv.FormatInt(offset, 10),
	}
	body, err := s.c.Raw().Response("/v1/client/fs/logs/"+allocID, q)
	if err != nil {
		return err
	}
	defer body.Close()
	dec := json.NewDecoder(body)
	for {
		var f api.StreamFrame
		if err := dec.Decode(&f); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if len(f.Data) == 0 {
			continue
		}
		if err := fn(f.Data); err != nil {
			return err
		}
	}
}
