#!/usr/bin/env python3
"""Run Flink SQL scripts with PyFlink and write the final contents of every sink as JSON lines.

This is the Flink side of the differential tests: the same SQL is run by Riffle and by Apache
Flink, and the two outputs are compared with compare.py.

Run it with the python of the venv made by setup_flink.sh.

Single run:
    flink_oracle.py --sql ddl.sql --sql q1.sql --parallelism 1 --out q1.jsonl

Batch run (one JVM for several queries; each query gets a fresh table environment in which the
--sql files are executed first, then the query file):
    flink_oracle.py --sql ddl.sql --parallelism 1 \
        --query q1.sql=q1.jsonl --query q2.sql=q2.jsonl

How the result is computed: every statement except INSERT is run with execute_sql (SET is
applied to the table config; -D wins over SET). For every INSERT (also inside
EXECUTE STATEMENT SET BEGIN ... END; and BEGIN STATEMENT SET; ... END;):
  1. the INSERT is validated with explain_sql, so a statement Flink rejects fails here too;
  2. its query is cast to the sink's column types by position, as Flink does on INSERT;
  3. the result is folded inside Flink into a count per distinct row (`SELECT cols, COUNT(*)
     ... GROUP BY cols`, retraction-aware, mini-batched), so one row per result row rather
     than per change crosses the slow py4j bridge; that goes through
     toChangelogStream/fromChangelogStream and execute().collect().
     The round trip forces a full retract changelog: a plain collect() may receive an upsert
     changelog (UPDATE_AFTER without UPDATE_BEFORE) whose key is not visible here;
  4. the changelog is applied to a multiset: INSERT / UPDATE_AFTER add the row's count,
     UPDATE_BEFORE / DELETE remove it (an error when absent). Where every column's type can
     travel as Arrow, Flink applies it on its side (ArrowUtils.filterOutRetractRows, which
     fails on a retraction of an absent row) and sends the final rows as Arrow batches: one
     transfer, where the py4j bridge moves a few hundred rows per second (q23's 58 000 rows
     took 390 s that way, 23 s through Arrow, the same rows). Otherwise, and with
     --allow-unpaired-updates, rows cross the bridge one by one; there, if the numbers of
     UPDATE_AFTER and UPDATE_BEFORE rows differ the run fails unless
     --allow-unpaired-updates is given.
The sink connector itself is never used. Rows of all INSERTs into the same sink add up.

Output: one line per row, sorted, `{"sink": "<name>", "row": [v1, v2, ...]}`. Values:
    NULL -> null, BOOLEAN -> true/false, integers -> number, FLOAT/DOUBLE -> number
    (non-finite: the strings "NaN", "Infinity", "-Infinity"), DECIMAL -> string in plain
    notation with the type's scale ("908.000"), TIMESTAMP(p<=3) -> "YYYY-MM-DD HH:MM:SS.mmm",
    TIMESTAMP_LTZ(p<=3) -> the same, as UTC wall time (table.local-time-zone is UTC),
    TIMESTAMP(p>3) / TIMESTAMP_LTZ(p>3) / INTERVAL -> Flink's own CAST(... AS STRING),
    DATE -> "YYYY-MM-DD", TIME -> "HH:MM:SS.mmm", CHAR/VARCHAR -> string,
    BINARY/VARBINARY -> "x'0a1b'", ROW -> list (a NULL row -> null), ARRAY/MULTISET -> list,
    MAP -> list of [k, v] pairs sorted by their JSON text.
Known PyFlink limit: NULL elements inside ARRAY/MAP/MULTISET values make the job fail.
"""

import argparse
import collections
import datetime
import decimal
import json
import math
import os
import re
import sys
import time

DEFAULT_CONFIG = [
    ("table.local-time-zone", "UTC"),
    # 0 disables the periodic watermark timer; Flink's WatermarkAssignerOperator then emits a
    # watermark as soon as it advances (after every record), which makes runs at parallelism 1
    # independent of wall-clock timing.
    ("pipeline.auto-watermark-interval", "0 ms"),
    # Mini-batches fold many updates of a key into one before they reach this process, whose
    # py4j bridge moves a few hundred rows per second; final results are unchanged.
    ("table.exec.mini-batch.enabled", "true"),
    ("table.exec.mini-batch.allow-latency", "1 s"),
    ("table.exec.mini-batch.size", "50000"),
]


class OracleError(Exception):
    pass


def log(msg):
    print(f"flink_oracle: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# SQL text handling
# --------------------------------------------------------------------------------------------

def split_statements(text):
    """Split a script on top-level ';'.

    Returns the statements with comments removed (optimizer hints `/*+ ... */` are kept).
    Quotes: '...' (with '' escapes), `...` and "..." are respected.
    """
    stmts = []
    cur = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "-" and text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j  # keep the newline
            continue
        if c == "/" and text.startswith("/*", i) and not text.startswith("/*+", i):
            j = text.find("*/", i + 2)
            if j < 0:
                raise OracleError("unterminated /* comment")
            cur.append(" ")
            i = j + 2
            continue
        if c == "/" and text.startswith("/*+", i):
            j = text.find("*/", i + 3)
            if j < 0:
                raise OracleError("unterminated /*+ hint")
            cur.append(text[i:j + 2])
            i = j + 2
            continue
        if c in "'`\"":
            j = i + 1
            while True:
                k = text.find(c, j)
                if k < 0:
                    raise OracleError(f"unterminated {c} quote")
                if k + 1 < n and text[k + 1] == c:  # doubled quote = escaped
                    j = k + 2
                    continue
                break
            cur.append(text[i:k + 1])
            i = k + 1
            continue
        if c == ";":
            stmts.append("".join(cur))
            cur = []
            i += 1
            continue
        cur.append(c)
        i += 1
    stmts.append("".join(cur))
    return [s.strip() for s in stmts if s.strip()]


_IDENT = r"(?:`(?:[^`]|``)*`|[A-Za-z_$][\w$]*)"
_PATH = rf"{_IDENT}(?:\s*\.\s*{_IDENT})*"


def unquote_ident(part):
    part = part.strip()
    if part.startswith("`") and part.endswith("`"):
        return part[1:-1].replace("``", "`")
    return part


def split_path(path):
    return [unquote_ident(p) for p in re.findall(_IDENT, path)]


def quote_ident(name):
    return "`" + name.replace("`", "``") + "`"


def matching_paren(text, start):
    """Index of the ')' matching the '(' at text[start] (comments are already removed)."""
    depth = 0
    i = start
    while i < len(text):
        c = text[i]
        if c in "'`\"":
            j = i + 1
            while True:
                k = text.find(c, j)
                if k < 0:
                    raise OracleError("unterminated quote")
                if k + 1 < len(text) and text[k + 1] == c:
                    j = k + 2
                    continue
                break
            i = k + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise OracleError("unbalanced parentheses")


class Insert:
    def __init__(self, sink_path, columns, query, text):
        self.sink_path = sink_path  # as written (may contain backticks / dots)
        self.sink_name = ".".join(split_path(sink_path))
        self.columns = columns  # explicit column list or None
        self.query = query
        self.text = text


def parse_insert(stmt):
    m = re.match(rf"INSERT\s+(INTO|OVERWRITE)\s+({_PATH})\s*", stmt, re.I | re.S)
    if not m:
        raise OracleError(f"cannot parse INSERT statement:\n{stmt}")
    if m.group(1).upper() == "OVERWRITE":
        raise OracleError("INSERT OVERWRITE is not supported in streaming mode")
    sink_path = m.group(2)
    rest = stmt[m.end():]
    if re.match(r"PARTITION\b", rest, re.I):
        raise OracleError(f"static PARTITION clauses are not supported:\n{stmt}")
    columns = None
    if rest.startswith("("):
        end = matching_paren(rest, 0)
        inner = rest[1:end]
        if not re.match(r"\s*(SELECT|WITH|VALUES|\()", inner, re.I):
            columns = [unquote_ident(c) for c in re.findall(_IDENT, inner)]
            rest = rest[end + 1:]
    query = rest.strip()
    if not query:
        raise OracleError(f"INSERT without a query:\n{stmt}")
    return Insert(sink_path, columns, query, stmt)


_SET_RE = re.compile(
    r"SET\s+(?:'((?:[^']|'')*)'|([\w.\-]+))\s*=\s*(?:'((?:[^']|'')*)'|(\S+))\s*$", re.I | re.S)


def parse_set(stmt):
    m = _SET_RE.match(stmt)
    if not m:
        raise OracleError(f"cannot parse SET statement: {stmt}")
    key = m.group(1).replace("''", "'") if m.group(1) is not None else m.group(2)
    val = m.group(3).replace("''", "'") if m.group(3) is not None else m.group(4)
    return key, val


def classify(stmts):
    """Yields ('set', (k, v)) | ('insert', Insert) | ('ddl', text)."""
    in_set = False
    for stmt in stmts:
        upper = stmt.upper()
        m = re.match(r"EXECUTE\s+STATEMENT\s+SET\s+BEGIN\b", stmt, re.I)
        if m:
            if in_set:
                raise OracleError("nested statement set")
            in_set = True
            stmt = stmt[m.end():].strip()
            if not stmt:
                continue
            upper = stmt.upper()
        elif re.fullmatch(r"BEGIN\s+STATEMENT\s+SET", stmt, re.I):
            if in_set:
                raise OracleError("nested statement set")
            in_set = True
            continue
        if re.fullmatch(r"END", stmt, re.I):
            if not in_set:
                raise OracleError("END without a statement set")
            in_set = False
            continue
        if re.match(r"INSERT\b", upper):
            yield "insert", parse_insert(stmt)
        elif in_set:
            raise OracleError(f"only INSERT is allowed inside a statement set:\n{stmt}")
        elif re.match(r"SET\b", upper):
            yield "set", parse_set(stmt)
        elif re.match(r"RESET\b", upper):
            raise OracleError(f"RESET is not supported: {stmt}")
        elif re.match(r"(SELECT|WITH|VALUES)\b", upper):
            raise OracleError(f"bare queries are not supported, use INSERT INTO:\n{stmt}")
        else:
            yield "ddl", stmt
    if in_set:
        raise OracleError("statement set without END")


# --------------------------------------------------------------------------------------------
# Value normalisation
# --------------------------------------------------------------------------------------------

def fmt_datetime(d):
    if d.tzinfo is not None:
        d = d.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return (f"{d.year:04d}-{d.month:02d}-{d.day:02d} "
            f"{d.hour:02d}:{d.minute:02d}:{d.second:02d}.{d.microsecond // 1000:03d}")


def normalize(v):
    from pyflink.common import Row

    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return v
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    if isinstance(v, datetime.datetime):
        return fmt_datetime(v)
    if isinstance(v, datetime.date):
        return f"{v.year:04d}-{v.month:02d}-{v.day:02d}"
    if isinstance(v, datetime.time):
        return f"{v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond // 1000:03d}"
    if isinstance(v, str):
        return v
    if isinstance(v, (bytes, bytearray)):
        return "x'" + bytes(v).hex() + "'"
    if isinstance(v, Row):
        return [normalize(x) for x in v]
    if isinstance(v, (list, tuple)):
        return [normalize(x) for x in v]
    if isinstance(v, dict):
        pairs = [[normalize(k), normalize(x)] for k, x in v.items()]
        return sorted(pairs, key=lambda p: json.dumps(p, sort_keys=True))
    return str(v)


# --------------------------------------------------------------------------------------------
# Flink
# --------------------------------------------------------------------------------------------

def java_error_message(exc):
    """First meaningful lines of a py4j / pyflink exception."""
    text = str(exc)
    lines = []
    for ln in text.splitlines():
        ln = ln.strip()
        if ln.startswith(": "):
            ln = ln[2:]
        if (not ln or ln.startswith("at ") or ln.startswith("...")
                or ln.startswith("An error occurred while calling")):
            continue
        if ln not in lines:
            lines.append(ln)
    causes = [ln for ln in lines if ln.startswith("Caused by")]
    head = [ln for ln in lines if not ln.startswith("Caused by")][:3]
    return "\n".join(head + causes[-2:])


class Runner:
    def __init__(self, parallelism, udf_jars, overrides, explain, verbose=False,
                 allow_unpaired=False):
        self.verbose = verbose
        self.allow_unpaired = allow_unpaired
        self.parallelism = parallelism
        self.udf_jars = udf_jars
        self.overrides = overrides  # dict key -> value given with -D
        self.explain = explain

    def settings(self):
        settings = [("parallelism.default", str(self.parallelism))] + DEFAULT_CONFIG
        if self.udf_jars:
            urls = ";".join("file://" + os.path.abspath(p) for p in self.udf_jars)
            settings.append(("pipeline.jars", urls))
        merged = dict(settings)
        merged.update(self.overrides)
        return merged

    def new_env(self):
        """A streaming StreamTableEnvironment with the settings applied to both layers."""
        from pyflink.common import Configuration
        from pyflink.datastream import StreamExecutionEnvironment
        from pyflink.table import EnvironmentSettings, StreamTableEnvironment

        settings = self.settings()
        conf = Configuration()
        for k, v in settings.items():
            conf.set_string(k, v)
        s_env = StreamExecutionEnvironment.get_execution_environment(conf)
        t_env = StreamTableEnvironment.create(
            s_env, environment_settings=EnvironmentSettings.in_streaming_mode())
        cfg = t_env.get_config()
        for k, v in settings.items():
            cfg.set(k, v)
        return t_env

    def run(self, sql_files, out_path, t_env=None):
        """Runs the scripts in one fresh TableEnvironment and writes out_path."""
        t0 = time.time()
        if os.path.exists(out_path):
            os.remove(out_path)  # never leave a stale result behind a failed run
        if t_env is None:
            t_env = self.new_env()
        multiset = collections.Counter()
        n_inserts = 0
        for path in sql_files:
            with open(path, encoding="utf-8") as f:
                text = f.read()
            try:
                items = list(classify(split_statements(text)))
            except OracleError as e:
                raise OracleError(f"{path}: {e}") from None
            for kind, item in items:
                if kind == "set":
                    k, v = item
                    if k in self.overrides:
                        log(f"{path}: SET '{k}' ignored, -D gives '{self.overrides[k]}'")
                    else:
                        t_env.get_config().set(k, v)
                elif kind == "ddl":
                    try:
                        t_env.execute_sql(item)
                    except Exception as e:  # noqa: BLE001 - py4j raises many kinds
                        raise OracleError(
                            f"{path}: Flink rejected statement:\n{item}\n--> {java_error_message(e)}"
                        ) from None
                else:
                    t1 = time.time()
                    n_changes = self.run_insert(t_env, path, item, multiset)
                    n_inserts += 1
                    log(f"{item.sink_name}: {n_changes} changelog rows, {time.time() - t1:.2f}s")
        if not n_inserts:
            raise OracleError("no INSERT statement found in " + ", ".join(sql_files))

        lines = []
        for key, count in multiset.items():
            if count < 0:
                raise OracleError(f"internal error: negative count for {key}")
            lines.extend([key] * count)
        lines.sort()
        tmp = out_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for line in lines:
                f.write(line + "\n")
        os.replace(tmp, out_path)
        log(f"wrote {len(lines)} rows to {out_path} ({time.time() - t0:.2f}s)")

    def sink_columns(self, t_env, ins):
        try:
            schema = t_env.from_path(ins.sink_path)._j_table.getResolvedSchema()
        except Exception as e:  # noqa: BLE001
            raise OracleError(f"unknown sink table {ins.sink_path}: {java_error_message(e)}") \
                from None
        cols = []
        for c in schema.getColumns():
            if c.isPersisted():  # physical and non-virtual metadata columns
                cols.append((c.getName(), c.getDataType().getLogicalType()))
        return cols

    def wrapped_query(self, t_env, ins):
        """The INSERT's query cast to the sink's column names and types."""
        sink_cols = self.sink_columns(t_env, ins)
        try:
            q_table = t_env.sql_query(ins.query)
        except Exception as e:  # noqa: BLE001
            raise OracleError(f"Flink rejected query of INSERT INTO {ins.sink_name}:\n"
                              f"{ins.query}\n--> {java_error_message(e)}") from None
        q_cols = [(c.getName(), c.getDataType().getLogicalType())
                  for c in q_table._j_table.getResolvedSchema().getColumns()]

        if ins.columns is None:
            targets = [name for name, _ in sink_cols]
        else:
            targets = ins.columns
            known = {name for name, _ in sink_cols}
            for t in targets:
                if t not in known:
                    raise OracleError(f"INSERT INTO {ins.sink_name}: unknown column {t}")
        if len(targets) != len(q_cols):
            raise OracleError(
                f"INSERT INTO {ins.sink_name}: query has {len(q_cols)} columns, "
                f"sink expects {len(targets)}")
        # The query's own column names may repeat (`SELECT a, a`), so its columns are renamed
        # positionally with a derived column list.
        aliases = [f"__c{i}" for i in range(len(q_cols))]
        source_of = dict(zip(targets, aliases))
        q_type_of = dict(zip(aliases, [t for _, t in q_cols]))

        # Inner layer: the sink's implicit cast, one column per sink column.
        inner = []
        for i, (name, sink_type) in enumerate(sink_cols):
            want_s = sink_type.copy(True).asSerializableString()
            if name in source_of:
                src = source_of[name]
                have_s = q_type_of[src].copy(True).asSerializableString()
                expr = quote_ident(src)
                if have_s != want_s:
                    expr = f"CAST({expr} AS {want_s})"
            else:
                expr = f"CAST(NULL AS {want_s})"
            inner.append(f"{expr} AS `__s{i}`")
        # Outer layer: flattened into columns the PyFlink bridge carries faithfully.
        outer = []
        decoders = []
        for i, (name, sink_type) in enumerate(sink_cols):
            cols, dec = self.transport(f"`__t`.`__s{i}`", sink_type.copy(True))
            outer.extend(cols)
            decoders.append(dec)
        sql = ("SELECT\n  "
               + ",\n  ".join(f"{c} AS `__o{j}`" for j, c in enumerate(outer))
               + "\nFROM (\nSELECT\n  " + ",\n  ".join(inner)
               + "\nFROM (\n" + ins.query + "\n) AS `__riffle_q` ("
               + ", ".join(quote_ident(a) for a in aliases) + ")\n) AS `__t`")
        # Fold the changelog inside Flink: a count per distinct row, maintained under
        # retractions, reaches this process as one row per result row and mini-batch instead
        # of one per change (the py4j bridge moves only a few hundred rows per second).
        out_cols = ", ".join(f"`__o{j}`" for j in range(len(outer)))
        sql = (f"SELECT {out_cols}, COUNT(*) AS `__n` FROM (\n{sql}\n) AS `__f` "
               f"GROUP BY {out_cols}")

        def decode(values):
            it = iter(values)
            row = [d(it) for d in decoders]
            rest = list(it)
            if rest:
                raise OracleError(f"internal error: {len(rest)} extra values")
            return row

        return sql, decode

    @classmethod
    def transport(cls, expr, logical_type):
        """SQL columns that carry a value of logical_type, and a function that rebuilds the
        normalised value from an iterator over those columns' values.

        The PyFlink bridge fails on NULLs nested in ROW values and cannot carry
        TIMESTAMP_LTZ, INTERVAL or more than millisecond precision, so ROWs are flattened
        (with an IS NULL flag) and those types are cast first.
        """
        root = logical_type.getTypeRoot().toString()
        if root == "ROW":
            cols = [f"{expr} IS NULL"]
            subs = []
            for field in logical_type.getFields():
                c, d = cls.transport(f"{expr}.{quote_ident(field.getName())}", field.getType())
                cols.extend(c)
                subs.append(d)

            def dec_row(it):
                is_null = next(it)
                vals = [d(it) for d in subs]
                return None if is_null else vals

            return cols, dec_row
        if root == "TIMESTAMP_WITH_LOCAL_TIME_ZONE":
            p = logical_type.getPrecision()
            # table.local-time-zone is UTC, so this is the UTC wall time.
            expr = f"CAST({expr} AS TIMESTAMP({p}))" if p <= 3 else f"CAST({expr} AS STRING)"
        elif root in ("TIMESTAMP_WITHOUT_TIME_ZONE", "TIMESTAMP_WITH_TIME_ZONE"):
            if logical_type.getPrecision() > 3:
                expr = f"CAST({expr} AS STRING)"
        elif root.startswith("INTERVAL"):
            expr = f"CAST({expr} AS STRING)"
        return [expr], lambda it: normalize(next(it))

    def collect_arrow(self, table, decode, sink_name):
        """The final rows of `table` in bulk, or None when its types cannot go through Arrow.

        Flink applies the changelog on its side (ArrowUtils.filterOutRetractRows: an
        UPDATE_BEFORE or DELETE removes an equal earlier row, and fails when there is none)
        and sends the remaining rows as Arrow batches: one transfer instead of several py4j
        calls per row, which move only a few hundred rows per second. Returns the rows'
        multiset and the number of rows received.
        """
        from pyflink.java_gateway import get_gateway
        from pyflink.table.serializers import ArrowSerializer
        from pyflink.table.types import create_arrow_schema
        import pyarrow as pa

        gateway = get_gateway()
        schema = table.get_schema()
        try:
            serializer = ArrowSerializer(
                create_arrow_schema(schema.get_field_names(), schema.get_field_data_types()),
                schema.to_row_data_type(), None)
        except Exception as e:  # noqa: BLE001 -- a type Arrow cannot carry: use the row bridge
            log(f"{sink_name}: rows through the row bridge ({str(e).splitlines()[0][:120]})")
            return None
        try:
            batches = gateway.jvm.org.apache.flink.table.runtime.arrow.ArrowUtils \
                .collectAsPandasDataFrame(table._j_table, 4096)
            if not batches.hasNext():
                return collections.Counter(), 0
            arrow = pa.Table.from_batches(serializer.load_from_iterator(batches))
        except Exception as e:  # noqa: BLE001
            raise OracleError(f"job for INSERT INTO {sink_name} failed:\n"
                              f"{java_error_message(e)}") from None
        local = collections.Counter()
        columns = [c.to_pylist() for c in arrow.columns]
        for values in zip(*columns):
            values = list(values)
            weight = values.pop()
            key = json.dumps({"sink": sink_name, "row": decode(values)},
                             ensure_ascii=False, allow_nan=False)
            local[key] += weight
        return local, arrow.num_rows

    def run_insert(self, t_env, path, ins, multiset):
        if self.explain or self.verbose:
            # Validates the INSERT exactly as Flink would run it (sink type checks included).
            from pyflink.table.explain_detail import ExplainDetail
            try:
                plan = t_env.explain_sql(ins.text, ExplainDetail.CHANGELOG_MODE)
            except Exception as e:  # noqa: BLE001
                raise OracleError(f"{path}: Flink rejected:\n{ins.text}\n--> "
                                  f"{java_error_message(e)}") from None
            if self.verbose:
                m = re.search(r"== Optimized Physical Plan ==\n(.*?)\n\n", plan, re.S)
                log(f"Flink's plan for INSERT INTO {ins.sink_name}:\n"
                    f"{m.group(1) if m else plan}")
        sql, decode = self.wrapped_query(t_env, ins)
        if self.verbose:
            log(f"query run for INSERT INTO {ins.sink_name}:\n{sql}")
        try:
            table = t_env.sql_query(sql)
        except Exception as e:  # noqa: BLE001
            raise OracleError(f"{path}: Flink rejected the cast query:\n{sql}\n--> "
                              f"{java_error_message(e)}") from None
        from pyflink.common import RowKind

        # Table.execute().collect() lets the planner send an upsert changelog (UPDATE_AFTER
        # without UPDATE_BEFORE, keyed by an upsert key we cannot see from here). Going through
        # toChangelogStream (ChangelogMode.all()) and back forces a full retract changelog.
        try:
            table = t_env.from_changelog_stream(t_env.to_changelog_stream(table))
        except Exception as e:  # noqa: BLE001
            raise OracleError(f"{path}: cannot convert INSERT INTO {ins.sink_name} to a "
                              f"changelog stream:\n{java_error_message(e)}") from None

        if not self.allow_unpaired:
            fast = self.collect_arrow(table, decode, ins.sink_name)
            if fast is not None:
                multiset.update(fast[0])
                return fast[1]
        n = 0
        n_ub = n_ua = 0
        local = collections.Counter()
        try:
            with table.execute().collect() as results:
                for row in results:
                    n += 1
                    values = list(row)
                    weight = values.pop()
                    key = json.dumps({"sink": ins.sink_name, "row": decode(values)},
                                     ensure_ascii=False, allow_nan=False)
                    kind = row.get_row_kind()
                    if kind in (RowKind.INSERT, RowKind.UPDATE_AFTER):
                        n_ua += kind == RowKind.UPDATE_AFTER
                        local[key] += weight
                    elif kind in (RowKind.UPDATE_BEFORE, RowKind.DELETE):
                        n_ub += kind == RowKind.UPDATE_BEFORE
                        if local[key] < weight:
                            raise OracleError(
                                f"{ins.sink_name}: {kind.name} of a row that is not present: {key}")
                        local[key] -= weight
                        if local[key] == 0:
                            del local[key]
                    else:
                        raise OracleError(f"unknown row kind {kind}")
        except OracleError:
            raise
        except Exception as e:  # noqa: BLE001
            msg = java_error_message(e)
            if "Ran out of input" in msg or "PickleException" in msg:
                msg += ("\n(a value could not be passed from Java to Python; PyFlink fails on "
                        "NULL elements inside ARRAY/MAP/MULTISET values and on TIMESTAMP_LTZ or "
                        "INTERVAL nested in them)")
            raise OracleError(f"{path}: job for INSERT INTO {ins.sink_name} failed:\n"
                              f"{msg}") from None
        if n_ua != n_ub and not self.allow_unpaired:
            raise OracleError(
                f"{path}: INSERT INTO {ins.sink_name}: Flink sent {n_ua} UPDATE_AFTER but "
                f"{n_ub} UPDATE_BEFORE rows although a full changelog was requested. The planner "
                f"treats part of the plan as insert-only while it emits updates, so the result "
                f"is not well defined (rerun with -v to see the plan; --allow-unpaired-updates "
                f"keeps every UPDATE_AFTER, which is what an append-only sink would receive).")
        multiset.update(local)
        return n


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sql", action="append", default=[], metavar="FILE",
                   help="SQL script, executed in order (repeatable)")
    p.add_argument("--parallelism", type=int, default=1)
    p.add_argument("--out", help="output JSONL (single run)")
    p.add_argument("--query", action="append", default=[], metavar="SQL=OUT",
                   help="batch mode: run the --sql files then SQL in a fresh TableEnvironment, "
                        "write OUT (repeatable)")
    p.add_argument("--udf-jar", action="append", default=[], metavar="PATH",
                   help="jar added to pipeline.jars (repeatable)")
    p.add_argument("-D", action="append", default=[], dest="conf", metavar="KEY=VALUE",
                   help="Flink configuration; overrides the defaults and SET statements")
    p.add_argument("--no-explain", action="store_true",
                   help="do not validate each INSERT with explain_sql first")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="log Flink's plan and the query actually run for each INSERT")
    p.add_argument("--allow-unpaired-updates", action="store_true",
                   help="accept UPDATE_AFTER rows without UPDATE_BEFORE (each one adds a row)")
    p.add_argument("--keep-going", action="store_true",
                   help="batch mode: continue with the next query after a failure")
    args = p.parse_args(argv)
    if bool(args.out) == bool(args.query):
        p.error("give either --out or at least one --query")
    if args.out and not args.sql:
        p.error("--out needs at least one --sql")
    overrides = {}
    for kv in args.conf:
        if "=" not in kv:
            p.error(f"-D expects KEY=VALUE, got {kv!r}")
        k, v = kv.split("=", 1)
        overrides[k.strip()] = v.strip()
    queries = []
    for qo in args.query:
        if "=" not in qo:
            p.error(f"--query expects SQL=OUT, got {qo!r}")
        queries.append(tuple(qo.split("=", 1)))
    for f in args.sql + [q for q, _ in queries] + args.udf_jar:
        if not os.path.isfile(f):
            p.error(f"no such file: {f}")
    return args, overrides, queries


def main(argv):
    args, overrides, queries = parse_args(argv)
    t0 = time.time()
    runner = Runner(args.parallelism, args.udf_jar, overrides, not args.no_explain, args.verbose,
                    args.allow_unpaired_updates)
    try:
        import pyflink  # noqa: F401
    except ImportError:
        log("pyflink is not installed in this python; use the venv python from setup_flink.sh")
        return 2
    failures = 0
    try:
        if args.out:
            runner.run(args.sql, args.out)
        else:
            for q, out in queries:
                try:
                    runner.run(args.sql + [q], out)
                except OracleError as e:
                    failures += 1
                    log(f"FAILED {e}")
                    if not args.keep_going:
                        return 1
    except OracleError as e:
        log(f"FAILED: {e}")
        return 1
    if queries:
        log(f"{len(queries) - failures} of {len(queries)} queries ran, {failures} failed")
    log(f"total {time.time() - t0:.2f}s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
