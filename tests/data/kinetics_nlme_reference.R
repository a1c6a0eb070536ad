# nlme fits of the kinetics population model, for comparison with ca125kinetics.fit_population.
#
# Independent of the package: reads the cohorts written by kinetics_nlme_simulation.py and
# fits them with nlme::nlme (Lindstrom-Bates, maximum likelihood). Run from the repository
# root (see tests/data/kinetics_nlme_README.md):
#
#   python tests/data/kinetics_nlme_simulation.py out/nlme
#   Rscript tests/data/kinetics_nlme_reference.R out/nlme
#
# The fit starts from generic values (k 0.05/day, floor 10, amplitude the median baseline);
# when nlme stops there with an error it is restarted once from the simulation's true means
# (recorded as `start`), and if that fails too, from the truth with a looser PNLS tolerance
# (1e-3) and step halving down to 1e-10. Writes out/nlme/nlme_<scenario>.json for every cohort of the directory, and
# tests/data/kinetics_nlme_reference.json (the committed reference: the scenario `small`,
# with every patient's empirical-Bayes estimate, and the population of every scenario).
#
# Model: y_ij = log(exp(lB_i) + exp(lA_i - exp(lk_i) t_ij)) + e_ij, e_ij ~ N(0, sigma^2),
# t = max(day, 0); (lk_i, lB_i) bivariate normal (general 2 x 2 covariance, pdSymm) and lA_i
# normal, independent of them (pdBlocked): the package's random-effects structure, with the
# amplitude a nuisance that both integrate out (the package under a vague per-patient prior,
# nlme under a fitted normal one).
#
# Patients: those the package scores ("ok"): a pretreatment sample in days -14..0 (the latest
# is the baseline, at t = 0), at least 3 samples of which 2 on treatment in days 1..100, a
# baseline above the ULN, and a negative least-squares slope of log C on t (a patient without
# net decline is "rising" and not fitted).

suppressPackageStartupMessages({library(nlme); library(jsonlite)})

args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args) >= 1) args[1] else "out/nlme"
reference <- "tests/data/kinetics_nlme_reference.json"

scorable <- function(d) {
  d <- d[d$day >= -14 & d$day <= 100, ]
  keep <- vapply(split(d, d$patient_id), function(p) {
    pre <- p[p$day <= 0, ]
    if (nrow(p) < 3 || sum(p$day > 0) < 2 || nrow(pre) == 0) return(FALSE)
    if (pre$ca125[which.max(pre$day)] <= p$uln[1]) return(FALSE)
    t <- pmax(p$day, 0)
    unname(coef(lm(log(p$ca125) ~ t))[2] < 0)
  }, logical(1))
  d[d$patient_id %in% names(keep)[keep], ]
}

curve <- deriv(~ log(exp(lB) + exp(lA - exp(lk) * t)), c("lk", "lB", "lA"),
               function(lk, lB, lA, t) {})

fit_one <- function(d, method, truth = NULL, loose = FALSE) {
  d$t <- pmax(d$day, 0)
  d$y <- log(d$ca125)
  d$id <- factor(d$patient_id)
  g <- groupedData(y ~ t | id, data = d)
  base <- tapply(d$ca125[d$day <= 0], d$patient_id[d$day <= 0], function(v) v[length(v)])
  start <- c(lk = log(0.05), lB = log(10), lA = log(median(base)))   # generic, not the truth
  if (!is.null(truth)) start <- c(lk = truth$mu_log_k, lB = truth$mu_log_floor, lA = truth$mu_log_amp)
  nlme(y ~ curve(lk, lB, lA, t), data = g,
       fixed = lk + lB + lA ~ 1,
       random = pdBlocked(list(pdSymm(lk + lB ~ 1), pdSymm(lA ~ 1))),
       start = start, method = method,
       control = nlmeControl(maxIter = 500, pnlsMaxIter = 50, msMaxIter = 500, niterEM = 50,
                             tolerance = if (loose) 1e-6 else 1e-7, pnlsTol = if (loose) 1e-3 else 1e-6,
                             minScale = if (loose) 1e-10 else 0.001))
}

summarise <- function(fit, d) {
  s2 <- fit$sigma^2
  blocks <- pdMatrix(fit$modelStruct$reStruct)[[1]] * s2
  cov_kb <- blocks[1:2, 1:2]
  fe <- fixef(fit)
  list(method = fit$method,
       n_patients = length(unique(d$patient_id)), n_samples = nrow(d),
       mu_log_k = unname(fe["lk"]), mu_log_floor = unname(fe["lB"]), mu_log_amp = unname(fe["lA"]),
       sd_log_k = sqrt(cov_kb[1, 1]), sd_log_floor = sqrt(cov_kb[2, 2]),
       corr_log_k_floor = cov_kb[1, 2] / sqrt(cov_kb[1, 1] * cov_kb[2, 2]),
       sd_log_amp = sqrt(blocks[3, 3]), sigma = fit$sigma,
       logLik = as.numeric(logLik(fit)), n_iter = fit$numIter,
       se = standard_errors(fit))
}

# Standard errors: of the fixed effects from summary(); of the sds, the correlation and sigma
# from intervals() (approximate 95 % limits on the transformed scale, as half their width on
# the natural scale divided by 1.96); NA where nlme cannot compute them.
standard_errors <- function(fit) {
  tt <- summary(fit)$tTable
  se <- list(mu_log_k = tt["lk", "Std.Error"], mu_log_floor = tt["lB", "Std.Error"],
             mu_log_amp = tt["lA", "Std.Error"])
  iv <- tryCatch(intervals(fit, which = "var-cov"), error = function(e) NULL)
  half <- function(row) unname((row[["upper"]] - row[["lower"]]) / (2 * qnorm(0.975)))
  if (is.null(iv)) return(c(se, sd_log_k = NA, sd_log_floor = NA, corr_log_k_floor = NA, sigma = NA))
  re <- iv$reStruct$id
  c(se, sd_log_k = half(re["sd(lk)", ]), sd_log_floor = half(re["sd(lB)", ]),
    corr_log_k_floor = half(re["cor(lk,lB)", ]), sigma = half(iv$sigma))
}

versions <- list(R = R.version.string, nlme = as.character(packageVersion("nlme")),
                 jsonlite = as.character(packageVersion("jsonlite")))
truths <- fromJSON(file.path(dir, "truth.json"))
ref <- NULL
for (file in sort(list.files(dir, pattern = "^[a-z]+\\.csv$", full.names = TRUE))) {
  name <- sub("\\.csv$", "", basename(file))
  d <- scorable(read.csv(file, stringsAsFactors = FALSE))
  out <- list(scenario = name, versions = versions, truth = truths[[name]])
  for (method in c("ML", "REML")) {
    t0 <- proc.time()[["elapsed"]]
    fit <- tryCatch(fit_one(d, method), error = function(e) e)
    start <- "generic"
    if (inherits(fit, "error")) {
      # nlme stops when a PNLS step cannot decrease its objective (weakly identified floors):
      # try once more from the simulation's true means, and say so
      generic_error <- conditionMessage(fit)
      fit <- tryCatch(fit_one(d, method, truths[[name]]), error = function(e) e)
      start <- paste0("truth (from the generic start: ", generic_error, ")")
      if (inherits(fit, "error")) {
        # and once more with a looser PNLS tolerance (1e-3) and smaller step halving
        fit <- tryCatch(fit_one(d, method, truths[[name]], loose = TRUE), error = function(e) e)
        start <- paste0("truth, pnlsTol 1e-3 (from the generic start and from the truth with ",
                        "pnlsTol 1e-6: ", generic_error, ")")
      }
    }
    if (inherits(fit, "error")) {
      out[[method]] <- list(error = conditionMessage(fit), start = start)
      next
    }
    out[[method]] <- c(summarise(fit, d), start = start, seconds = proc.time()[["elapsed"]] - t0)
    if (method == "ML") {
      co <- coef(fit)                                  # fixed + random: the EB estimates
      out$patients <- list(patient_id = rownames(co), log_k = co$lk, log_floor = co$lB, log_amp = co$lA)
    }
  }
  write_json(out, file.path(dir, paste0("nlme_", name, ".json")), digits = NA, auto_unbox = TRUE,
             pretty = TRUE)
  message(name, ": ", toJSON(out$ML[c("mu_log_k", "sd_log_k", "mu_log_floor", "sd_log_floor",
                                        "corr_log_k_floor", "sigma")], auto_unbox = TRUE, digits = 6))
  if (name == "small") ref <- out
}
if (!is.null(ref)) {
  others <- list()
  for (file in sort(list.files(dir, pattern = "^nlme_[a-z]+\\.json$", full.names = TRUE))) {
    o <- fromJSON(file)
    others[[o$scenario]] <- list(ML = o$ML, REML = o$REML)
  }
  ref$populations <- others
  write_json(ref, reference, digits = NA, auto_unbox = TRUE, pretty = TRUE)
}
