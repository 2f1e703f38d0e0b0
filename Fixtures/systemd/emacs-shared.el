;;; emacs-shared.el --- Headless Emacs: Eglot on the shared server's socket (editors/emacs/idpbuild-shared.el)  -*- lexical-binding: t; -*-
;; emacs --batch -l emacs-shared.el, with IDPBUILD_REPO, IDPBUILD_SOCKET, IDPBUILD_FILE and IDPBUILD_REPORT set.
(require 'cl-lib)
(require 'json)
(require 'eglot)

(defvar driver-report nil)
(defun driver-put (key value) (setq driver-report (plist-put driver-report key value)))

(defun driver-wait (predicate)
  "Process events until PREDICATE holds or 20 seconds pass; return whether it held."
  (let ((deadline (+ (float-time) 20)) (held nil))
    (while (and (not (setq held (funcall predicate))) (< (float-time) deadline))
      (accept-process-output nil 0.02))
    (and held t)))

(defun driver-codes ()
  (let ((diags (if eglot--current-flymake-report-fn (flymake-diagnostics) eglot--diagnostics)))
    (sort (mapcar (lambda (diag) (or (plist-get (cdr (assoc 'eglot-lsp-diag (flymake-diagnostic-data diag))) :code) ""))
                  diags)
          #'string<)))

(condition-case err
    (progn
      (load (expand-file-name "editors/emacs/idpbuild.el" (getenv "IDPBUILD_REPO")))
      (load (expand-file-name "editors/emacs/idpbuild-shared.el" (getenv "IDPBUILD_REPO")))
      (setq idpbuild-shared-socket (getenv "IDPBUILD_SOCKET"))
      (idpbuild-use-shared-server)
      (add-hook 'idpbuild-dockerfile-mode-hook #'eglot-ensure)
      (find-file (getenv "IDPBUILD_FILE"))
      (run-hooks 'post-command-hook)
      (driver-put :connected (driver-wait (lambda () (eglot-current-server))))
      (let ((server (eglot-current-server)))
        (driver-put :network (and server (eq (process-type (jsonrpc--process server)) 'network))))
      (driver-put :diagnostics_arrived (driver-wait (lambda () (>= (length (driver-codes)) 2))))
      (driver-put :codes (vconcat (driver-codes)))
      (let ((status (jsonrpc-request (eglot-current-server) :workspace/executeCommand '(:command "idpbuild.serverStatus"))))
        (driver-put :sessions (length (plist-get status :sessions))))
      (eglot-shutdown (eglot-current-server))
      (driver-put :stopped (not (eglot-current-server)))
      (driver-put :ok t))
  (error (driver-put :ok :json-false) (driver-put :error (format "%S" err))))

(with-temp-file (getenv "IDPBUILD_REPORT")
  (insert (json-encode driver-report)))
(kill-emacs 0)
