# nlme's generics, which lme4 and brms share: tabmixr's methods dispatch from
# whichever of these packages is attached last.

#' @importFrom nlme fixef
#' @export
nlme::fixef

#' @importFrom nlme ranef
#' @export
nlme::ranef

#' @importFrom nlme VarCorr
#' @export
nlme::VarCorr
