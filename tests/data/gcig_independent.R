# Independent GCIG CA-125 response / progression reading, base R only.
#
# Written from the rule text (Rustin et al., Int J Gynecol Cancer 2011;21:419-423, GCIG
# CA-125 definitions 2005, as restated in this project's clinical rules and data contract)
# WITHOUT looking at the Python implementation, so that the two can be compared.
#
# Usage:
#   Rscript tests/data/gcig_independent.R INPUT.csv OUTPUT.csv [ULN]
#
# INPUT.csv is long format: patient_id, day, ca125 (number or "<x" censored), optional
# uln (per sample, constant within a patient), optional event (paracentesis, thoracentesis,
# surgery, mouse_antibody). OUTPUT.csv has one row per patient (columns below).
#
# Readings. Where the rule text admits two readings, the default is the literal one written
# first, and a flag selects the other (the package's documented Decision):
# * Excluded samples: a sample is excluded when a paracentesis / thoracentesis / surgery
#   happened on the same day or within the 28 days before it (0 <= day - event_day <= 28),
#   or a mouse_antibody event happened on or before its day. Excluded samples are removed
#   before any rule runs. An event-only row (no CA-125) is not a sample.
# * One assay and one ULN: a change of the `assay` name among the samples, or of the `uln`
#   among the samples, makes the patient not evaluable (response and progression).
#   Default: any two samples ("the same assay must be used throughout").
#   --assay-from-baseline: only the samples used from the baseline on are compared (excluded
#   samples and those before the baseline do not count), the assay names and the ULNs alike;
#   the ULN used is then the first one from the baseline on (without a baseline, the first
#   sample's, as by default).
# * Baseline: latest non-excluded sample with -14 <= day <= 0; evaluable for response when
#   the baseline is >= 2 x ULN (a censored baseline "<x" is not shown to be: not evaluable).
# * No sample after the first dose: an evaluable baseline with no non-excluded sample on a
#   day > 0 (none drawn yet, or every one excluded) has no response to judge: response
#   unknown (NA), rule "no_sample" (awaiting data), not "no_fall". (Added when the package
#   stopped reporting this case as "no response"; the rule text defines a response by a fall
#   after the first dose, and nothing after it says neither yes nor no.)
# * Response: the first fall is the first post-baseline sample <= 50 % of baseline. From it,
#   every following sample must be <= 50 % of baseline and <= 1.10 x its previous sample
#   (unless both are <= ULN); the first sample >= 28 days after the fall confirms. CR when
#   the confirming value <= ULN. Default: a broken first fall is not confirmed ("every
#   sample from the first fall ... ").
#   --restart: a broken fall is followed by the next fall, and so on. (Settled when the
#   package implemented this reading: the next fall is the first sample <= 50 % after the
#   one that broke the fall, since a candidate inside a broken fall is broken by the same
#   sample; a fall awaiting its confirmation is not followed; the response day, confirmed
#   or not, is that of the fall assessed last.)
# * Progression: baseline <= ULN -> group C (threshold 2 x ULN). Baseline > ULN: a candidate
#   after the first normal (<= ULN) post-baseline value uses group A (2 x ULN); before any
#   normal value, group B (2 x the lowest value from the baseline up to the sample before the
#   candidate). A candidate must be >= threshold and > ULN. Progression day = candidate.
#   Default: any later sample >= 7 days after it and >= the same threshold is the second
#   occasion ("two occasions at least 7 days apart").
#   --sustained: the first sample >= 7 days later and every sample in between must be >=
#   the threshold; otherwise the next candidate is tried.
#   Without progression the group is the one after the last sample (A if normalised, else B).
# * Censored "<x" (true value in (0, x)). Default: a comparison the bound cannot decide makes
#   the result "undetermined" (rule "censored"); a baseline "<x" with x > ULN leaves the
#   progression group unknown (not evaluable).
#   --censored-bound: tests "value <= limit" use x (false when x is above the limit), tests
#   "value >= limit" are never met, a censored previous sample enters the 10 % rule as x,
#   a censored nadir as x.
# * A decimal exactly at a threshold counts as at it (relative slack 1e-9).
# * Two samples on one day: the patient is a data error ("duplicate_day").

argv <- commandArgs(trailingOnly = TRUE)
flags <- argv[startsWith(argv, "--")]
args <- argv[!startsWith(argv, "--")]
if (length(args) < 2L) stop("usage: Rscript gcig_independent.R INPUT.csv OUTPUT.csv [ULN] [--restart] [--sustained] [--censored-bound] [--assay-from-baseline] [--set=NAME=VALUE ...]")
default_uln <- if (length(args) >= 3L) as.numeric(args[[3L]]) else 35
# Options for the points where the rule text admits two readings (see README):
RESTART <- "--restart" %in% flags            # a broken first fall: try the next fall
# Rule settings (GCIG values by default), e.g. --set=confirmation_days=21
SET <- list(evaluable_factor = 2, baseline_window_days = 14, response_fraction = 0.5,
            confirmation_days = 28, assay_tolerance = 1.10, interference_window_days = 28,
            progression_factor = 2, progression_gap_days = 7)
for (f in flags[startsWith(flags, "--set=")]) {
  kv <- strsplit(sub("^--set=", "", f), "=", fixed = TRUE)[[1L]]
  if (!kv[[1L]] %in% names(SET)) stop("unknown setting ", kv[[1L]])
  SET[[kv[[1L]]]] <- as.numeric(kv[[2L]])
}
SUSTAINED <- "--sustained" %in% flags        # progression: the first sample >= 7 d later and
                                             # every sample in between must be >= threshold
ASSAY_FROM_BASELINE <- "--assay-from-baseline" %in% flags  # one assay from the baseline on
CENSORED_BOUND <- "--censored-bound" %in% flags  # "<x": at-most tests use x, at-least never met

raw <- read.csv(args[[1L]], colClasses = "character", na.strings = "")

# Three-valued comparisons for possibly censored values. A value is a pair (v, cens):
# cens TRUE means the true value is in (0, v).
# A decimal value exactly at a threshold counts as at it: comparisons allow a relative slack
# of 1e-9 (1.10 * 180 is 198.00000000000003 in binary floating point).
SLACK <- 1e-9
le <- function(v, cens, t) {          # value <= t ?
  t <- t * (1 + SLACK)
  if (!cens) return(v <= t)
  if (v <= t) return(TRUE)
  if (CENSORED_BOUND) return(FALSE)
  NA
}
ge <- function(v, cens, t) {          # value >= t ?
  t <- t * (1 - SLACK)
  if (!cens) return(v >= t)
  if (v <= t || CENSORED_BOUND) return(FALSE)
  NA
}

score_patient <- function(d, uln_default) {
  out <- list(status = "evaluable", reason = "", response = NA, category = NA,
              response_day = NA, confirmation_day = NA, response_rule = "",
              baseline_day = NA, baseline_value = NA, baseline_censored = NA,
              progression = NA, progression_group = NA, progression_day = NA,
              progression_rule = "", uln = NA, n_excluded = 0L)
  d$day <- as.integer(d$day)
  d <- d[order(d$day), , drop = FALSE]
  uln <- uln_default
  one_setting <- TRUE
  if ("uln" %in% names(d)) {
    u <- unique(as.numeric(d$uln[!is.na(d$uln) & !is.na(d$ca125)]))
    if (length(u) >= 1L) uln <- u[[1L]]
    if (length(u) > 1L && !ASSAY_FROM_BASELINE) { one_setting <- FALSE; out$reason <- "uln_changes" }
  }
  out$uln <- uln
  ev <- if ("event" %in% names(d)) d$event else rep(NA_character_, nrow(d))
  has_value <- !is.na(d$ca125)
  if (anyDuplicated(d$day[has_value])) {
    out$status <- "error"; out$reason <- "duplicate_day"; return(out)
  }
  excluded <- rep(FALSE, nrow(d))
  for (k in which(!is.na(ev))) {
    e <- ev[[k]]; ed <- d$day[[k]]
    if (e %in% c("paracentesis", "thoracentesis", "surgery")) {
      excluded <- excluded | (d$day >= ed & d$day - ed <= SET$interference_window_days)
    } else if (e == "mouse_antibody") {
      excluded <- excluded | (d$day >= ed)
    }
  }
  out$n_excluded <- sum(excluded & has_value)
  s <- d[has_value & !excluded, , drop = FALSE]
  cens <- startsWith(trimws(s$ca125), "<")
  val <- as.numeric(sub("^<", "", trimws(s$ca125)))
  day <- s$day
  if ("assay" %in% names(s)) {
    keep_a <- !is.na(s$assay)
    if (ASSAY_FROM_BASELINE) {  # only the samples from the baseline on
      pre_a <- which(day >= -SET$baseline_window_days & day <= 0)
      keep_a <- keep_a & (if (length(pre_a)) day >= day[[max(pre_a)]] else day > 0)
    }
    if (length(unique(s$assay[keep_a])) > 1L && one_setting) {
      one_setting <- FALSE; out$reason <- "assay_changes"
    }
  }
  if (ASSAY_FROM_BASELINE && "uln" %in% names(s)) {  # the ULNs of the samples used, from the baseline on
    pre_u <- which(day >= -SET$baseline_window_days & day <= 0)
    if (length(pre_u)) {
      su <- as.numeric(s$uln)
      u <- unique(su[!is.na(su) & day >= day[[max(pre_u)]]])
      if (length(u) >= 1L) uln <- u[[1L]]
      if (length(u) > 1L && one_setting) { one_setting <- FALSE; out$reason <- "uln_changes" }
      out$uln <- uln
    }
  }

  # --- baseline -------------------------------------------------------------------------
  pre <- which(day >= -SET$baseline_window_days & day <= 0)
  if (!one_setting) {
    out$status <- "not_evaluable"
    out$response_rule <- out$reason; out$progression_rule <- out$reason
    return(out)
  }
  if (length(pre) == 0L) {
    out$status <- "not_evaluable"; out$reason <- "no_baseline"
    out$response_rule <- "no_baseline"; out$progression_rule <- "no_baseline"
    return(out)
  }
  b <- max(pre)
  bv <- val[[b]]; bc <- cens[[b]]
  out$baseline_day <- day[[b]]; out$baseline_value <- bv; out$baseline_censored <- bc
  post <- seq_len(length(day))[seq_len(length(day)) > b]

  # --- response ---------------------------------------------------------------------------
  raised2 <- ge(bv, bc, SET$evaluable_factor * uln)
  if (is.na(raised2)) {  # "<x" with x above 2 x ULN: a sample >= 2 x ULN is not shown to exist
    out$status <- "not_evaluable"; out$response_rule <- "censored_baseline"
  } else if (!raised2) {
    out$status <- "not_evaluable"; out$response_rule <- "baseline_below_2uln"
  } else if (!any(day > 0)) {  # nothing after the first dose (baseline evaluable)
    out$response <- NA; out$response_rule <- "no_sample"
  } else {
    half <- SET$response_fraction * bv
    out$response <- FALSE; out$response_rule <- "no_fall"
    done <- FALSE
    broke_at <- 0L   # --restart: the sample that broke the last fall
    for (i in post) {
      if (i <= broke_at) next
      f <- le(val[[i]], cens[[i]], half)
      if (is.na(f)) { out$response <- NA; out$response_rule <- "censored"; break }
      if (!f) next
      # candidate fall at i: walk forward
      if (is.na(out$response_day) || RESTART) out$response_day <- day[[i]]  # date of the (first) fall
      outcome <- "unconfirmed"
      # "every sample from the first fall up to and including the confirming one": the fall
      # itself too (against the sample before it, the baseline at least)
      for (j in post[post >= i]) {
        ok_half <- le(val[[j]], cens[[j]], half)
        both_normal <- isTRUE(le(val[[j]], cens[[j]], uln)) &&
          isTRUE(le(val[[j - 1L]], cens[[j - 1L]], uln))
        if (both_normal) ok_rise <- TRUE
        else if (!cens[[j]] && !cens[[j - 1L]]) ok_rise <- val[[j]] <= SET$assay_tolerance * val[[j - 1L]] * (1 + SLACK)
        else if (cens[[j]] && !cens[[j - 1L]]) ok_rise <- if (val[[j]] <= SET$assay_tolerance * val[[j - 1L]] * (1 + SLACK)) TRUE else if (CENSORED_BOUND) FALSE else NA
        else if (CENSORED_BOUND) ok_rise <- val[[j]] <= SET$assay_tolerance * val[[j - 1L]] * (1 + SLACK)
        # previous "<y": its true value is below y, so a value above the tolerance x y is surely a rise
        else if (!cens[[j]] && val[[j]] > SET$assay_tolerance * val[[j - 1L]] * (1 + SLACK)) ok_rise <- FALSE
        else ok_rise <- NA
        if (is.na(ok_half) || is.na(ok_rise)) { outcome <- "censored"; break }
        if (!ok_half) { outcome <- "rose_above_half"; break }
        if (!ok_rise) { outcome <- "rise_over_10pct"; break }
        if (j > i && day[[j]] - day[[i]] >= SET$confirmation_days) { outcome <- "confirmed"; break }
      }
      if (outcome == "confirmed") {
        out$response <- TRUE; out$response_rule <- "confirmed"
        out$response_day <- day[[i]]; out$confirmation_day <- day[[j]]
        cr <- le(val[[j]], cens[[j]], uln)
        out$category <- if (isTRUE(cr)) "CR" else if (isFALSE(cr)) "PR" else NA
        done <- TRUE; break
      }
      if (outcome == "censored") { out$response <- NA; out$response_rule <- "censored"; done <- TRUE; break }
      out$response_rule <- outcome  # the first fall is broken (or awaits its confirmation)
      if (!RESTART || outcome == "unconfirmed") break  # strict: anchored on the first fall
      broke_at <- j
    }
  }

  # --- progression ------------------------------------------------------------------------
  raised <- if (bc && bv > uln) NA else !le(bv, bc, uln)  # raised: not within the normal range
  if (is.na(raised)) {
    out$progression_rule <- "censored_baseline"; return(out)
  }
  out$progression <- FALSE; out$progression_rule <- "no_progression"
  first_normal <- NA
  for (i in post) {
    n <- le(val[[i]], cens[[i]], uln)
    if (isTRUE(n)) { first_normal <- i; break }
    if (is.na(n)) break
  }
  group_final <- if (!raised) "C" else if (!is.na(first_normal)) "A" else "B"
  out$progression_group <- group_final
  for (i in post) {
    if (!raised) { grp <- "C"; thr <- SET$progression_factor * uln; thr_cens <- FALSE }
    else if (!is.na(first_normal) && i > first_normal) { grp <- "A"; thr <- SET$progression_factor * uln; thr_cens <- FALSE }
    else if (!is.na(first_normal) && i == first_normal) next
    else {
      grp <- "B"
      idx <- c(b, post[post < i])
      m <- which.min(val[idx])
      thr <- SET$progression_factor * val[idx][[m]]; thr_cens <- cens[idx][[m]]
    }
    # candidate >= threshold and > ULN
    c1 <- if (thr_cens && !CENSORED_BOUND) { if (!cens[[i]] && val[[i]] >= thr * (1 - SLACK)) TRUE else if (cens[[i]]) FALSE else NA }
          else ge(val[[i]], cens[[i]], thr)
    above_uln <- if (cens[[i]]) (if (val[[i]] <= uln) FALSE else NA) else val[[i]] > uln
    if (isFALSE(c1) || isFALSE(above_uln)) next
    if (is.na(c1) || is.na(above_uln)) { out$progression <- NA; out$progression_rule <- "censored"; break }
    second <- FALSE; unsure <- FALSE
    for (j in post[post > i]) {
      c2 <- if (thr_cens && !CENSORED_BOUND) { if (!cens[[j]] && val[[j]] >= thr * (1 - SLACK)) TRUE else if (cens[[j]]) FALSE else NA }
            else ge(val[[j]], cens[[j]], thr)
      if (SUSTAINED) {
        if (is.na(c2)) { unsure <- TRUE; break }
        if (!c2) break
        if (day[[j]] - day[[i]] >= SET$progression_gap_days) { second <- TRUE; break }
        next
      }
      if (day[[j]] - day[[i]] < SET$progression_gap_days) next
      if (isTRUE(c2)) { second <- TRUE; break }
      if (is.na(c2)) unsure <- TRUE
    }
    if (second) {
      out$progression <- TRUE; out$progression_group <- grp
      out$progression_day <- day[[i]]; out$progression_rule <- paste0("group_", grp)
      break
    }
    if (unsure) { out$progression <- NA; out$progression_rule <- "censored"; break }
  }
  out
}

ids <- unique(raw$patient_id)
rows <- lapply(ids, function(p) {
  r <- score_patient(raw[raw$patient_id == p, , drop = FALSE], default_uln)
  as.data.frame(c(list(patient_id = p), r), stringsAsFactors = FALSE)
})
res <- do.call(rbind, rows)
write.csv(res, args[[2L]], row.names = FALSE, na = "")
