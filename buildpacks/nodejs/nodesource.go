package nodejs

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/pierhq/pier/buildpacks/internal/bpkit"
)

// fetchNode resolves rng among the Node.js releases of both sources, the
// npm registry's node-linux-<arch> packages and nodejs.org's dist, takes
// the newest that also fits (nil accepts all), and unpacks it into the
// cache, logging which it took, from where, and whether it was cached. A
// release both have comes from the registry; one source down leaves the
// other's releases to choose from.
func fetchNode(ctx context.Context, r bpkit.Request, reg *registry, dist *nodeDist, rng string, fits func(version) bool) (string, version, error) {
	name := nodePackage()
	rng = strings.TrimSpace(rng)
	var ok func(pkgVersion) bool
	if fits != nil {
		ok = func(pv pkgVersion) bool { v, err := parseVersion(pv.Version); return err == nil && fits(v) }
	}
	var regV pkgVersion
	var regBest version
	meta, regErr := reg.metadata(ctx, name)
	if regErr == nil {
		if regV, regErr = meta.resolve(rng, ok); regErr == nil {
			regBest, regErr = parseVersion(regV.Version)
		}
	}
	if _, err := satisfies(version{}, rng); err != nil && (meta == nil || meta.DistTags[rng] == "") {
		return "", version{}, fmt.Errorf("%q is not a version range: %w", rng, err)
	}
	// An exact release the registry has needs no look at nodejs.org.
	var distBest version
	distFound := false
	var distErr error
	tag := meta != nil && meta.DistTags[rng] != ""
	if regErr != nil || (!tag && regV.Version != strings.TrimPrefix(rng, "v")) {
		var vs []version
		if vs, distErr = dist.versions(ctx); distErr == nil {
			distBest, distFound, distErr = newestMatching(vs, rng, fits)
			if distErr == nil && !distFound {
				distErr = fmt.Errorf("nor does nodejs.org's list (%s)", dist.host())
			}
		}
	}
	if regErr != nil && !distFound {
		return "", version{}, fmt.Errorf("%w; %v", regErr, distErr)
	}
	if distErr != nil && regErr == nil {
		bpkit.Info(r.Log, "Choosing among the npm registry's releases only: %v", distErr)
	}
	dir := filepath.Join(r.CacheDir, "dist", name)
	if regErr == nil && (!distFound || regBest.cmp(distBest) >= 0) {
		dir = filepath.Join(dir, regV.Version)
		cached, err := reg.install(ctx, name, regV, dir)
		if err != nil {
			return "", version{}, err
		}
		logNode(r, rng, regBest, cached, "the npm registry "+reg.host()+" ("+name+")")
		return dir, regBest, nil
	}
	dir = filepath.Join(dir, distBest.String())
	cached, err := dist.install(ctx, distBest, dir)
	if err != nil {
		return "", version{}, err
	}
	logNode(r, rng, distBest, cached, "nodejs.org dist "+dist.host())
	return dir, distBest, nil
}

func logNode(r bpkit.Request, rng string, v version, cached bool, source string) {
	from := "Downloaded node " + v.String() + " from " + source
	if cached {
		from = "Using node " + v.String() + " from the build cache"
	}
	bpkit.Step(r.Log, "Installing node %s", v)
	bpkit.Info(r.Log, "Resolved %q to %s; %s", rng, v, from)
}
