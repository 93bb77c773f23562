#!/usr/bin/env python3
"""Plants small, plausible bugs in the engine one at a time (a mutation test)
and runs the test suite without torch against each: the C++ unit tests and
the command-line checks (everything ctest runs but the PyTorch comparisons,
the benchmarks and the window test). Prints which bugs were caught, and by
which test first.

    scripts/mutants.py [--tree DIR] [--only NAME...]
    scripts/mutants.py --check     (every bug still applies: a test, instant)

The tree (default: this checkout) is copied to build/mutants/src, built once
in build/mutants/build, and rebuilt incrementally for each bug. It takes
about half a minute per bug on 2 cores, after a first build of 5. Needs what scripts/setup.sh native installs.
Results: docs/testing.md.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (name, file, the text as it is, the text with the bug). Each text must occur
# exactly once in its file.
MUTANTS = [
    ("Strict's step eta scaled by 0.99 (FixedPred untouched)", "core/pc_infer.cpp",
     "  const T rate = eta;  // a local",
     "  const T rate = err == ErrType::Strict ? T(0.99) * eta : eta;  // a local"),
    ("a row's last values (past its whole lane groups) never relax", "core/row_update.h",
     "for (Index lane = 0; i < n; ++i, ++lane) add(i, lane);",
     "for (Index lane = 0; i < n && false; ++i, ++lane) add(i, lane);"),
    ("a non-finite value in a lane past the first goes unnoticed", "core/row_update.h",
     "finite_sum += finite[lane];",
     "finite_sum += lane == 0 ? finite[lane] : T(0);"),
    ("a block of five rows in the direct sums reads a neighbour's weight", "core/layers.cpp",
     "const Packet w = pset1<Packet>(a[r * a_stride + t]);",
     "const Packet w = pset1<Packet>(a[r * a_stride + t + (Rows == 5 && r == 4 && t == 3)]);"),
    ("max-pooling's gradient, a sample at a time, misplaces a maximum at its window's row start", "core/layers.cpp",
     "for (Index i = 1; i < k; ++i) h += past_top >= i * W;",
     "for (Index i = 1; i < k; ++i) h += past_top > i * W;"),
    ("max-pooling's 2x2 gradient finds its maximum's place from the wrong window", "core/layers.cpp",
     "window_start_.push_back(static_cast<int32_t>(2 * (oh * in[2] + ow)));",
     "window_start_.push_back(static_cast<int32_t>(2 * oh * in[2] + ow));"),
    ("a direct convolution's last span is a packet short", "core/layers.cpp",
     "(n - l + P - 1) / P, a, a_stride",
     "(n - l) / P, a, a_stride"),
    ("a convolution's padded gradient keeps what its scratch held in the border", "core/layers.cpp",
     "      clear_padded(gyq, O, Ho_, Wo_, q);\n",
     ""),
    ("Strict's parameter gradients taken at vhat, not at the beliefs", "core/pc_strict.cpp",
     "    if (l > 1) model_.f(l).forward(v[l - 1], trace_[l]);\n    model_.f(l).backward(v[l - 1],",
     "    if (l > 1) model_.f(l).forward(vhat[l - 1], trace_[l]);\n    model_.f(l).backward(vhat[l - 1],"),
    ("the last block's gradient never written by set_gradients", "core/pc_strict.cpp",
     "  for (Index l = 1; l <= model_.depth(); ++l) {\n    if (l > 1)",
     "  for (Index l = 1; l < model_.depth(); ++l) {\n    if (l > 1)"),
    ("a divergence names the lowest non-finite layer, not the highest", "core/pc_infer.cpp",
     "for (Index l = L; l >= 0; --l) {\n    if (!eps[l].defined()) continue;",
     "for (Index l = 0; l <= L; ++l) {\n    if (!eps[l].defined()) continue;"),
    ("Trainer::evaluate averages per chunk instead of per sample", "core/trainer.cpp",
     "    total.loss += e.loss * count;\n    total.accuracy += e.accuracy * count;\n  }\n"
     "  sum_over_processes({&total.loss, &total.accuracy}, \"the evaluation\");\n"
     "  total.loss /= static_cast<double>(data.size());\n  total.accuracy /= static_cast<double>(data.size());",
     "    total.loss += e.loss;\n    total.accuracy += e.accuracy;\n  }\n"
     "  sum_over_processes({&total.loss, &total.accuracy}, \"the evaluation\");\n"
     "  const double chunks = std::ceil(static_cast<double>(data.size()) / chunk);\n"
     "  total.loss /= chunks;\n  total.accuracy /= chunks;"),
    ("restore() forgets energy_rose_steps", "core/trainer.cpp",
     "    energy_rose_steps_ = energy_rose_steps;\n", "\n"),
    ("Exact's beliefs v = vhat + eps (sign)", "core/pc_exact.cpp",
     "    v[l].array() -= eps[l].array();", "    v[l].array() += eps[l].array();"),
    ("FixedPred's top error eps_L left undefined, the sweep reading stale values", "core/pc_infer.cpp",
     "  if (err == ErrType::FixedPred) eps[L] = dLdy;", "  if (err == ErrType::FixedPred) eps[L].resize(dLdy.shape());"),
    ("ePC's backward pass carries each layer's own error, not backprop's delta", "core/pc_epc.cpp",
     "model_.f(l + 1).backward(s.v[l], (*s.trace)[l + 1], *delta, &s.vjp[l], false);",
     "model_.f(l + 1).backward(s.v[l], (*s.trace)[l + 1], s.eps[l + 1], &s.vjp[l], false);"),
    ("ePC's gradients at the beliefs of the last sweep, not of the final errors", "core/pc_epc.cpp",
     "  const Index L = model_.depth();\n  beliefs_from_errors(trace_, v, eps, trace_[1].output());\n  loss_value(",
     "  const Index L = model_.depth();\n  loss_value("),
    ("iPC keeps f_1's output from before the weights changed", "core/pc_ipc.cpp",
     "for (Index l = 1; l <= L; ++l) model_.f(l).forward(", "for (Index l = 2; l <= L; ++l) model_.f(l).forward("),
    ("iPC's reported gradient is the last iteration's, not the mean", "core/pc_ipc.cpp",
     "grad_sum_[i].array() / static_cast<T>(iterations_)", "params_[i].param->grad.array()"),
    ("a residual block's VJP drops the skip", "core/model.cpp",
     "  if (residual && gx) gx->array() += gy.array();", ""),
    ("the stopping rule compares each step with itself", "core/pc_infer.cpp",
     "  if (iterations_ == 1) first_step_rms_ = rms;", "  first_step_rms_ = rms;"),
    ("tanh's derivative 1 - y instead of 1 - y^2", "core/layers.cpp",
     "gy.array().segment(at, n) * (T(1) - y.array().segment(at, n).square());",
     "gy.array().segment(at, n) * (T(1) - y.array().segment(at, n));"),
    ("ReLU passes the gradient at 0 (ReLU'(0) = 1)", "core/layers.cpp",
     "static T masked(T y, T g) { return y <= T(0) ? T(0) : g; }",
     "static T masked(T y, T g) { return y < T(0) ? T(0) : g; }"),
    ("ReLU stops the gradient where its output is NaN (PyTorch passes it)", "core/layers.cpp",
     "static T masked(T y, T g) { return y <= T(0) ? T(0) : g; }",
     "static T masked(T y, T g) { return y > T(0) ? g : T(0); }"),
    ("max-pooling keeps a window's first value over a NaN after it", "core/layers.cpp",
     "static bool replaces(T v, T best) { return (v > best) | (v != v); }",
     "static bool replaces(T v, T best) { return v > best; }"),
    ("MSE's gradient without the factor 2", "core/loss.cpp",
     "dyhat->array() = (yhat.array() - target.array()) * (T(2) / count);",
     "dyhat->array() = (yhat.array() - target.array()) * (T(1) / count);"),
    ("cross-entropy's gradient not divided by the batch", "core/loss.cpp",
     "g = (z.row(b).array() - logsumexp).exp().matrix() / static_cast<T>(B_total);\n      g(labels[b]) -= T(1) / static_cast<T>(B_total);",
     "g = (z.row(b).array() - logsumexp).exp().matrix();\n      g(labels[b]) -= T(1);"),
    ("Adam without the second moment's bias correction", "core/optim.cpp",
     "bias2 = 1 - std::pow(config_.beta2, t_);", "bias2 = 1.0;"),
    ("SGD's momentum buffer dampened at the first step too", "core/optim.cpp",
     "          buf.array() = d;\n", "          buf.array() = d;\n          buf.array() *= static_cast<T>(0.9);\n"),
    ("the thread split ignores the product kernel's panels", "core/thread_pool.cpp",
     "  align = std::max<Index>(1, align);\n  const Index units", "  align = 1;\n  const Index units"),
    ("IDX bytes not scaled to [0, 1]", "core/data_io.cpp",
     "case 0x08: v = static_cast<float>(bits) / 255.0f; break;", "case 0x08: v = static_cast<float>(bits); break;"),
    ("safetensors accepts tensors whose data overlap", "core/safetensors.cpp",
     "    if (begin < covered) throw fail(\"two tensors' data overlap\");\n", "\n"),
    ("the metrics columns angle and rel_error swapped", "core/metrics.cpp",
     "r.agreement[l - 1].rel_error : none);", "r.agreement[l - 1].angle_deg : none);"),
    ("a race's lanes seeded apart (other weights and batches per algorithm)", "ui/run.cpp",
     "config.seed = settings.seed;", "config.seed = settings.seed + lanes.size();"),
    ("a race's lane that finished its step does not wait for the others", "ui/run.cpp",
     "if (!lane.live() || (lane.trainer->steps() > behind && !lane.trainer->relaxation())) continue;",
     "if (!lane.live()) continue;"),
    ("guidance ignores the energy rising", "ui/guidance.cpp",
     "rose > static_cast<long>(kRecent / 10)", "rose > static_cast<long>(kRecent)"),
    ("a μPC racer trains the standard net", "ui/settings.cpp",
     "return r.mupc && races_mupc(model)", "return false && races_mupc(model)"),
    ("a heat map's texture keeps its first pixels", "ui/plot.cpp",
     "if (e.pixels != pixels) {", "if (e.pixels.empty()) {"),
]

EXCLUDED = ("^(torch2pc_reference|train_reference|python_package|python_install|compare_torch_runs|micro_bench_runs|gui_smoke"
            "|mutants_apply)$")


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def copy_tree(tree, dest):
    files = sh(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=tree, check=True).stdout.split()
    for f in files:
        target = os.path.join(dest, f)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.isfile(os.path.join(tree, f)):
            shutil.copy(os.path.join(tree, f), target)  # new times: the build must see every change


def run_tests(build):
    """The first failing test, or None when all pass."""
    r = sh(["ctest", "--test-dir", build, "-j", "2", "--timeout", "300", "--stop-on-failure", "-E", EXCLUDED])
    failed = [line for line in r.stdout.splitlines() if "***Failed" in line or "***Timeout" in line
              or "***Exception" in line or "(Failed)" in line]
    if r.returncode == 0:
        return None
    if failed:
        first = failed[0]
        name = first.split(":", 1)[1].split(" ....")[0].strip() if ":" in first else first
        return name[:70]
    return "ctest exit %d" % r.returncode


def stale(tree):
    """The bugs whose text to change no longer occurs exactly once in the tree."""
    return [(name, path, open(os.path.join(tree, path)).read().count(before))
            for name, path, before, _ in MUTANTS]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree", default=ROOT, help="the checkout whose code and tests to use")
    ap.add_argument("--only", nargs="*", help="run only the bugs whose name contains one of these")
    ap.add_argument("--check", action="store_true",
                    help="only check that every bug's text occurs once in the tree (code moves; the list must follow)")
    a = ap.parse_args()
    if a.check:
        bad = [(n, p, c) for n, p, c in stale(a.tree) if c != 1]
        for name, path, count in bad:
            print(f"{name}: the text to change occurs {count} times in {path}")
        print(f"{len(MUTANTS) - len(bad)} of {len(MUTANTS)} planted bugs apply")
        return 1 if bad else 0
    work = os.path.join(ROOT, "build", "mutants")
    src, build = os.path.join(work, "src"), os.path.join(work, "build")
    shutil.rmtree(src, ignore_errors=True)
    copy_tree(a.tree, src)
    # Built as scripts/test.sh builds its main suite (for this CPU), so that
    # the kernels chosen by instruction set are the ones under test.
    sh(["cmake", "-S", src, "-B", build, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release", "-DPCPLAY_NATIVE_ARCH=ON"],
       check=True)
    r = sh(["cmake", "--build", build, "-j", "2"])
    if r.returncode != 0:
        sys.exit("the unmutated tree does not build:\n" + r.stdout[-3000:])
    if run_tests(build) is not None:
        sys.exit("the unmutated tree fails its tests")
    rows, caught = [], 0
    chosen = [m for m in MUTANTS if not a.only or any(o in m[0] for o in a.only)]
    for name, path, before, after in chosen:
        file = os.path.join(src, path)
        text = open(file).read()
        if text.count(before) != 1:
            sys.exit(f"{name}: the text to change occurs {text.count(before)} times in {path}")
        t0 = time.time()
        open(file, "w").write(text.replace(before, after))
        try:
            r = sh(["cmake", "--build", build, "-j", "2"])
            by = "the build" if r.returncode != 0 else run_tests(build)
        finally:
            open(file, "w").write(text)
        caught += by is not None
        rows.append((name, by or "SURVIVED", time.time() - t0))
        print(f"{'caught  ' if by else 'SURVIVED'} {name}: {by or ''} ({time.time() - t0:.0f} s)", flush=True)
    sh(["cmake", "--build", build, "-j", "2"])  # back to the unmutated build
    print("\n| planted bug | caught by (first failing test) |\n|---|---|")
    for name, by, _ in rows:
        print(f"| {name} | {by} |")
    print(f"\n{caught} of {len(rows)} planted bugs caught")
    return 0 if caught == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
