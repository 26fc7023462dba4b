# Landscribe: two commands on a fresh Debian/Ubuntu machine.
#   make demo   install what is missing, build in release, fetch the model if needed, map a synthetic sample scene
#   make test   install what is missing, run the test suite
#   make fuzz   run each libFuzzer target for FUZZ_SECONDS (60) seconds (docs/fuzzing.md)
#   make test-qgis  install QGIS (qgis, python3-qgis) if missing, open the outputs in PyQGIS headless (docs/qgis.md)
#   make test-slurm a real single-node Slurm (installed if missing) runs a sharded run with Deploy/slurm/ (docs/scale-out.md)
#   make smoke-release  the release build run once end to end with the tiny test models (Tools/release_smoke.sh)
#   make test-k8s   the Kubernetes manifests of Deploy/kubernetes/ against the schema, linted, their pods' commands run here
SWIFT ?= swift
APT_PACKAGES := libgdal-dev libproj-dev libopenblas-dev libdnnl-dev libcairo2-dev fonts-dejavu-core gdal-bin pkg-config
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SAMPLE := out/sample_scene.tif
MODEL ?= openai/clip-vit-base-patch16

.PHONY: deps build test test-qgis test-slurm test-k8s smoke-release demo sample fuzz clean

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build -c release

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test
	SWIFT=$(SWIFT) Tools/parity_matrix.sh

# The release build run once end to end on the sample scene with the tiny test models
# (Tools/release_smoke.sh): the tests run the debug build.
smoke-release: deps
	SWIFT=$(SWIFT) Tools/release_smoke.sh

# The outputs checked in a real QGIS (Tools/qgis_check.sh); the rendered map is left in out/qgis-render.png.
QGIS_PACKAGES := qgis python3-qgis
test-qgis: deps
	@missing=""; for p in $(QGIS_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	$(SWIFT) build --product landscribe
	Tools/qgis_check.sh "$$($(SWIFT) build --show-bin-path)/landscribe" out

# A sharded run on a real single-node Slurm started here (Tools/slurm_e2e.sh: installs slurmctld,
# slurmd, slurm-client and munge if missing; root, or sudo), compared byte for byte with a single run.
test-slurm: deps
	$(SWIFT) build --product landscribe
	$(SUDO) Tools/slurm_e2e.sh "$$($(SWIFT) build --show-bin-path)/landscribe"

# The Kubernetes manifests (Tools/k8s_check.sh: kubernetes-validate from PyPI in out/k8s-venv, the
# lint, each pod's command run here with JOB_COMPLETION_INDEX set, the merge compared with a single run).
test-k8s: deps
	$(SWIFT) build --product landscribe
	Tools/k8s_check.sh "$$($(SWIFT) build --show-bin-path)/landscribe"

sample: deps
	@mkdir -p out
	@[ -f $(SAMPLE) ] || Samples/make_sample_scene.sh $(SAMPLE)

# The model is fetched when it is not cached and the network allows (Samples/ensure_model.sh).
# out/ then holds the map (landcover.tif + .aux.xml), its QGIS style (landcover.qml), STAC item
# (landcover.stac.json), area table (landcover.csv) and preview (landcover.png).
demo: build sample
	Samples/ensure_model.sh .build/release/landscribe $(MODEL)
	.build/release/landscribe info $(SAMPLE)
	.build/release/landscribe segment $(SAMPLE) -o out/landcover.tif --pipeline Pipelines/landcover.yaml \
	  --model $(MODEL) --preview out/landcover.png --stats out/landcover.csv --overwrite

# Fuzz targets built with -sanitize=fuzzer,address into .build-fuzz; FUZZ_RUNS=N stops a target
# after N inputs, FUZZ_TARGETS="FuzzConfig ..." picks targets. Fails when one crashes or hangs.
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?= -1
FUZZ_TARGETS ?=
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_RUNS=$(FUZZ_RUNS) SWIFT=$(SWIFT) Tools/fuzz.sh $(FUZZ_TARGETS)

clean:
	rm -rf .build .build-fuzz out
