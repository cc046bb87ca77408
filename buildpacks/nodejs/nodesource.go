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
	meta, regPV, regV, regErr := registryNode(ctx, reg, rng, fits)
	tag := meta != nil && meta.DistTags[rng] != ""
	if _, err := satisfies(version{}, rng); err != nil && !tag {
		return "", version{}, fmt.Errorf("%q is not a version range: %w", rng, err)
	}
	var distV version
	distFound := false
	var distErr error
	// An exact release or a dist-tag the registry has needs no look at
	// nodejs.org.
	if regErr != nil || (!tag && regPV.Version != strings.TrimPrefix(rng, "v")) {
		var vs []version
		if vs, distErr = dist.versions(ctx); distErr == nil {
			distV, distFound, distErr = newestMatching(vs, rng, fits)
		}
	}
	switch {
	case regErr != nil && !distFound && distErr == nil:
		return "", version{}, fmt.Errorf("%w, nor does nodejs.org's list (%s)", regErr, dist.host())
	case regErr != nil && !distFound:
		return "", version{}, fmt.Errorf("%w; %v", regErr, distErr)
	case distErr != nil:
		bpkit.Info(r.Log, "Choosing among the npm registry's releases only: %v", distErr)
	}
	dir := filepath.Join(r.CacheDir, "dist", name)
	if regErr == nil && (!distFound || regV.cmp(distV) >= 0) {
		dir = filepath.Join(dir, regPV.Version)
		cached, err := reg.install(ctx, name, regPV, dir)
		if err != nil {
			return "", version{}, err
		}
		logNode(r, rng, regV, cached, "the npm registry "+reg.host()+" ("+name+")")
		return dir, regV, nil
	}
	dir = filepath.Join(dir, distV.String())
	cached, err := dist.install(ctx, distV, dir)
	if err != nil {
		return "", version{}, err
	}
	logNode(r, rng, distV, cached, "nodejs.org dist "+dist.host())
	return dir, distV, nil
}

// registryNode resolves rng among the registry's node-linux-<arch>
// releases that fit.
func registryNode(ctx context.Context, reg *registry, rng string, fits func(version) bool) (*packument, pkgVersion, version, error) {
	meta, err := reg.metadata(ctx, nodePackage())
	if err != nil {
		return nil, pkgVersion{}, version{}, err
	}
	var ok func(pkgVersion) bool
	if fits != nil {
		ok = func(pv pkgVersion) bool { v, err := parseVersion(pv.Version); return err == nil && fits(v) }
	}
	pv, err := meta.resolve(rng, ok)
	if err != nil {
		return meta, pkgVersion{}, version{}, err
	}
	v, err := parseVersion(pv.Version)
	return meta, pv, v, err
}

func logNode(r bpkit.Request, rng string, v version, cached bool, source string) {
	from := "Downloaded node " + v.String() + " from " + source
	if cached {
		from = "Using node " + v.String() + " from the build cache"
	}
	bpkit.Step(r.Log, "Installing node %s", v)
	bpkit.Info(r.Log, "Resolved %q to %s; %s", rng, v, from)
}
