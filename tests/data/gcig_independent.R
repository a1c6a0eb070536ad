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
# Readings (each one marked where the text leaves a choice):
# * Excluded samples: a sample is excluded when a paracentesis / thoracentesis / surgery
#   happened on the same day or within the 28 days before it (0 <= day - event_day <= 28,
#   reading "for 28 days after" inclusively), or a mouse_antibody event happened on or before
#   its day. Excluded samples are removed before any rule runs.
# * Baseline: latest non-excluded sample with -14 <= day <= 0; evaluable for response when
#   the baseline is >= 2 x ULN.
# * Response: candidate falls are the post-baseline samples <= 50 % of baseline, in order.
#   From a candidate, every following sample must be <= 50 % of baseline and <= 1.10 x its
#   previous sample (unless both are <= ULN); the first sample >= 28 days after the candidate
#   that passes confirms. If the run breaks, the next candidate is tried. CR when the
#   confirming value <= ULN.
# * Progression: baseline <= ULN -> group C (threshold 2 x ULN). Baseline > ULN: a candidate
#   sample after the first normal (<= ULN) post-baseline value uses group A (2 x ULN); before
#   any normal value, group B (2 x the lowest value from baseline up to the sample before the
#   candidate). A candidate must be >= threshold and > ULN; a second sample >= 7 days later
#   (not necessarily the next one) must be >= the same threshold. Progression day = candidate.
# * Censored "<x": the true value lies in (0, x). A comparison that the bound cannot decide
#   makes the result "undetermined" (NA) with the rule "censored".
# * Two samples on one day: the patient is a data error ("duplicate_day").

argv <- commandArgs(trailingOnly = TRUE)
flags <- argv[startsWith(argv, "--")]
args <- argv[!startsWith(argv, "--")]
if (length(args) < 2L) stop("usage: Rscript gcig_independent.R INPUT.csv OUTPUT.csv [ULN] [--restart] [--sustained] [--censored-bound]")
default_uln <- if (length(args) >= 3L) as.numeric(args[[3L]]) else 35
# Options for the points where the rule text admits two readings (see README):
RESTART <- "--restart" %in% flags            # a broken first fall: try the next fall
SUSTAINED <- "--sustained" %in% flags        # progression: the first sample >= 7 d later and
                                             # every sample in between must be >= threshold
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
    if (length(u) > 1L) { one_setting <- FALSE; out$reason <- "uln_changes" }
  }
  if ("assay" %in% names(d)) {
    a <- unique(d$assay[!is.na(d$assay) & !is.na(d$ca125)])
    if (length(a) > 1L) { one_setting <- FALSE; out$reason <- "assay_changes" }
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
      excluded <- excluded | (d$day >= ed & d$day - ed <= 28)
    } else if (e == "mouse_antibody") {
      excluded <- excluded | (d$day >= ed)
    }
  }
  out$n_excluded <- sum(excluded & has_value)
  s <- d[has_value & !excluded, , drop = FALSE]
  cens <- startsWith(trimws(s$ca125), "<")
  val <- as.numeric(sub("^<", "", trimws(s$ca125)))
  day <- s$day

  # --- baseline -------------------------------------------------------------------------
  pre <- which(day >= -14 & day <= 0)
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
  raised2 <- ge(bv, bc, 2 * uln)
  if (is.na(raised2)) {
    out$status <- "undetermined"; out$response_rule <- "censored_baseline"
  } else if (!raised2) {
    out$status <- "not_evaluable"; out$response_rule <- "baseline_below_2uln"
  } else {
    half <- 0.5 * bv
    out$response <- FALSE; out$response_rule <- "no_fall"
    done <- FALSE
    for (i in post) {
      f <- le(val[[i]], cens[[i]], half)
      if (is.na(f)) { out$response <- NA; out$response_rule <- "censored"; break }
      if (!f) next
      # candidate fall at i: walk forward
      outcome <- "unconfirmed"
      for (j in post[post > i]) {
        ok_half <- le(val[[j]], cens[[j]], half)
        both_normal <- isTRUE(le(val[[j]], cens[[j]], uln)) &&
          isTRUE(le(val[[j - 1L]], cens[[j - 1L]], uln))
        if (both_normal) ok_rise <- TRUE
        else if (!cens[[j]] && !cens[[j - 1L]]) ok_rise <- val[[j]] <= 1.10 * val[[j - 1L]] * (1 + SLACK)
        else if (cens[[j]] && !cens[[j - 1L]]) ok_rise <- if (val[[j]] <= 1.10 * val[[j - 1L]] * (1 + SLACK)) TRUE else if (CENSORED_BOUND) FALSE else NA
        else if (CENSORED_BOUND) ok_rise <- val[[j]] <= 1.10 * val[[j - 1L]] * (1 + SLACK)
        else ok_rise <- NA
        if (is.na(ok_half) || is.na(ok_rise)) { outcome <- "censored"; break }
        if (!ok_half) { outcome <- "rose_above_half"; break }
        if (!ok_rise) { outcome <- "rise_over_10pct"; break }
        if (day[[j]] - day[[i]] >= 28) { outcome <- "confirmed"; break }
      }
      if (outcome == "confirmed") {
        out$response <- TRUE; out$response_rule <- "confirmed"
        out$response_day <- day[[i]]; out$confirmation_day <- day[[j]]
        cr <- le(val[[j]], cens[[j]], uln)
        out$category <- if (isTRUE(cr)) "CR" else if (isFALSE(cr)) "PR" else NA
        done <- TRUE; break
      }
      if (outcome == "censored") { out$response <- NA; out$response_rule <- "censored"; done <- TRUE; break }
      out$response_rule <- outcome  # the first fall is broken
      if (!RESTART) break           # strict: the assessment is anchored on the first fall
    }
  }

  # --- progression ------------------------------------------------------------------------
  raised <- !le(bv, bc, uln)  # raised before treatment: not within the normal range
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
    if (!raised) { grp <- "C"; thr <- 2 * uln; thr_cens <- FALSE }
    else if (!is.na(first_normal) && i > first_normal) { grp <- "A"; thr <- 2 * uln; thr_cens <- FALSE }
    else if (!is.na(first_normal) && i == first_normal) next
    else {
      grp <- "B"
      idx <- c(b, post[post < i])
      m <- which.min(val[idx])
      thr <- 2 * val[idx][[m]]; thr_cens <- cens[idx][[m]]
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
        if (day[[j]] - day[[i]] >= 7) { second <- TRUE; break }
        next
      }
      if (day[[j]] - day[[i]] < 7) next
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
