# make demo: set up (first run) and run the standalone demo.
# make view: the latest demo session in 3D on a timeline (Rerun viewer; the web viewer without a display).
# make test: set up (first run) and run the test suite (ROS-tier tests skip without rclpy).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt

.PHONY: demo view test setup clean

$(STAMP): requirements.txt requirements-dev.txt constraints.txt setup.py
	@command -v apt-get >/dev/null && ! ldconfig -p | grep -q libusb-1.0.so.0 && \
		{ apt-get update -qq && apt-get install -y -qq libusb-1.0-0 >/dev/null; } || true
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/semg-grasp demo

view: $(STAMP)
	$(BIN)/semg-grasp view "$$(ls -td runs/demo-* | head -n 1)"

test: $(STAMP)
	$(BIN)/python -m pytest -q test

clean:
	rm -rf $(VENV)
