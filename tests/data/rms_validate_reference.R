# Reference values for ca125kinetics.validation: Harrell's optimism bootstrap (rms::validate)
# and rms::val.prob, for tests/test_validation_rms.py.
#
# Run from the repository root (R 4.2.2, rms 6.5.0, jsonlite):
#   Rscript tests/data/rms_validate_reference.R > tests/data/rms_validate_reference.json
#
# What it does
# * Fits a plain logistic regression with rms::lrm on rms_validate_data.csv (y ~ x1 + x2 + x3
#   + x4) and on rms_validate_tiny.csv (y ~ x), and runs rms::validate(fit, method = "boot",
#   B = 200) after set.seed(seed).
# * Records the bootstrap samples rms drew: rms's predab.resample draws each sample with
#   sample(n, replace = TRUE) and nothing else random, so set.seed(seed) followed by B such
#   calls gives the same indices. The script proves it: a loop written here over those indices
#   (lrm.fit on the sample, the measures of validate.lrm's discrim()) reproduces validate's
#   "training" and "test" columns and its count of resamples (stopifnot below).
# * For each resample it also records what rms does not report: calibration-in-the-large
#   (glm(y ~ offset(lp), binomial) intercept), on the resample and on the original data, and
#   the refitted slope on the resample (rms sets it to 1 by definition).
# * rms::val.prob(p, y) on the fixed risks p and p2 of validation_calibration.csv, plus the
#   smoothed-calibration errors recomputed with lowess(delta = 0) and with the package's
#   local-linear loess (span 2/3), to separate the smoother's interpolation from the rest.
# JSON null is R's NA.

suppressPackageStartupMessages({
  library(rms)
  library(jsonlite)
})

here <- "tests/data"
B <- 200L
seeds <- c(main = 20261130L, tiny = 7L)

resample_indices <- function(n, B, seed) {
  set.seed(seed)
  lapply(seq_len(B), function(i) sample(n, replace = TRUE))
}

citl <- function(lp, y) unname(coef(glm(y ~ 1 + offset(lp), family = binomial,
                                        control = glm.control(epsilon = 1e-14, maxit = 100)))[1])

measures <- function(lp, y, calibrate) {
  # validate.lrm's discrim(): Dxy by somers2, Brier on plogis(lp); on the test data the
  # recalibration lrm.fit(lp, y) gives Intercept and Slope (on the training data rms sets 0, 1)
  out <- list(Dxy = unname(somers2(lp, y)["Dxy"]), B = mean((y - plogis(lp))^2), citl = citl(lp, y))
  refit <- lrm.fit(lp, y, tol = 1e-13)
  out$Intercept_refit <- unname(refit$coefficients[1])
  out$Slope_refit <- unname(refit$coefficients[2])
  out
}

run <- function(name, formula, data) {
  fit <- lrm(formula, data = data, x = TRUE, y = TRUE)
  n <- nrow(data)
  seed <- seeds[[name]]
  set.seed(seed)
  printed <- capture.output(v <- rms::validate(fit, method = "boot", B = B))
  idx <- resample_indices(n, B, seed)
  X <- fit$x
  y <- fit$y
  rows <- list()
  failures <- list()
  for (b in seq_len(B)) {
    i <- idx[[b]]
    # validate.lrm's lrmfit(): maxit = 12, tol from predab.resample (1e-12)
    f <- tryCatch(lrm.fit(X[i, , drop = FALSE], y[i], maxit = 12, tol = 1e-12),
                  error = function(e) list(fail = TRUE, message = conditionMessage(e)))
    if (isTRUE(f$fail)) {
      failures[[length(failures) + 1]] <- list(resample = b, n_events = sum(y[i]),
                                              message = if (is.null(f$message)) "fail" else f$message)
      next
    }
    beta <- f$coefficients
    lp_boot <- drop(beta[1] + X[i, , drop = FALSE] %*% beta[-1])
    lp_test <- drop(beta[1] + X %*% beta[-1])
    tr <- measures(lp_boot, y[i])
    te <- measures(lp_test, y)
    rows[[length(rows) + 1]] <- data.frame(
      resample = b,
      Dxy_boot = tr$Dxy, Dxy_test = te$Dxy,
      Slope_boot = 1, Slope_test = te$Slope_refit, Slope_refit_boot = tr$Slope_refit,
      Intercept_boot = 0, Intercept_test = te$Intercept_refit,
      B_boot = tr$B, B_test = te$B,
      citl_boot = tr$citl, citl_test = te$citl)
  }
  res <- do.call(rbind, rows)
  # the loop is rms's bootstrap: same resamples, same measures, same failures
  for (m in c("Dxy", "Intercept", "Slope", "B")) {
    stopifnot(isTRUE(all.equal(mean(res[[paste0(m, "_boot")]]), unname(v[m, "training"]), tolerance = 1e-9)))
    stopifnot(isTRUE(all.equal(mean(res[[paste0(m, "_test")]]), unname(v[m, "test"]), tolerance = 1e-9)))
    stopifnot(v[m, "n"] == nrow(res))
  }
  tab <- as.data.frame(unclass(v)[, 1:6])
  tab <- cbind(index = rownames(tab), tab)
  rownames(tab) <- NULL
  list(
    formula = deparse(formula),
    n = n, n_events = sum(y), B = B, seed = seed,
    coefficients = as.list(coef(fit)),
    validate = tab,
    validate_printed = printed,
    n_failed = length(failures),
    failures = failures,
    resamples = res,
    indices = do.call(rbind, idx)  # B x n, 1-based
  )
}

val_prob <- function(p, y) {
  s <- val.prob(p, y, pl = FALSE)
  # the same errors with R lowess's delta = 0 (no interpolation between fitted points) and
  # with loess(degree = 1, surface = "direct", span = 2/3), the package's smoother
  lw <- lowess(p, y, iter = 0, delta = 0)
  er0 <- abs(p - approx(lw, xout = p, ties = mean)$y)
  lo <- loess(y ~ p, span = 2 / 3, degree = 1, family = "gaussian",
              control = loess.control(surface = "direct"))
  er1 <- abs(p - fitted(lo))
  list(
    val_prob = as.list(s),
    lowess_delta0 = list(Eavg = mean(er0), E90 = unname(quantile(er0, 0.9)), Emax = max(er0)),
    loess_degree1_span23 = list(Eavg = mean(er1), E90 = unname(quantile(er1, 0.9)), Emax = max(er1)),
    citl = citl(qlogis(p), y)
  )
}

main <- read.csv(file.path(here, "rms_validate_data.csv"))
tiny <- read.csv(file.path(here, "rms_validate_tiny.csv"))
cal <- read.csv(file.path(here, "validation_calibration.csv"))

out <- list(
  r_version = R.version.string,
  rms_version = as.character(packageVersion("rms")),
  jsonlite_version = as.character(packageVersion("jsonlite")),
  command = "Rscript tests/data/rms_validate_reference.R > tests/data/rms_validate_reference.json",
  main = run("main", y ~ x1 + x2 + x3 + x4, main),
  tiny = run("tiny", y ~ x, tiny),
  val_prob = list(p = val_prob(cal$p, cal$y), p2 = val_prob(cal$p2, cal$y))
)
cat(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", dataframe = "rows", pretty = TRUE), "\n")
