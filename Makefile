# The two commands of the README: `make demo` and `make test`. Both create .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mlkd-installed
# Large frames need the project's Fast DDS profile (SHM + loopback UDP).
export FASTDDS_DEFAULT_PROFILES_FILE := $(CURDIR)/config/fastdds.xml
export AMENT_PREFIX_PATH := $(CURDIR)/$(VENV)
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST

.PHONY: venv demo test textures clean-venv
textures: $(TEXTURES)/index.json
venv: $(STAMP)

$(STAMP): constraints.txt requirements/runtime.txt requirements/ros.txt requirements/dev.txt requirements/train.txt requirements/ultralytics.txt setup.py tools/setup_venv.sh tools/build_vision_msgs.sh $(wildcard tools/torchvision_shim/*.toml tools/torchvision_shim/torchvision/*.py)
	tools/setup_venv.sh $(VENV)
	touch $@

# The demo's aerial ground: FlightGear's terrain textures (Debian flightgear-data-base, GPL-2+),
# fetched once into data/ (about 1.3 GB downloaded, 472 MB kept). Without apt the fetch says so
# and the demo runs on the built-in photos.
TEXTURES ?= data/textures/flightgear
$(TEXTURES)/index.json: | $(STAMP)
	-$(VENV)/bin/mlkd-tracker textures fetch --out $(TEXTURES)

demo: $(STAMP) $(TEXTURES)/index.json
	$(VENV)/bin/mlkd-tracker demo $(DEMO_ARGS)

# Tests make their own small textures; a fetched set must not change what they see.
test: export MLKD_TRACKER_TEXTURES = none
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
