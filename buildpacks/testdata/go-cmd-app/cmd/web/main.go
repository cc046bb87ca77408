// Command web answers with the Go that built it and the release the
// linker stamped.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"runtime"
)

var release = "unstamped"

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "web built by %s, release %s\n", runtime.Version(), release)
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil))
}
