;;; emacs-build-driver.el --- Headless Emacs (Eglot) build test: emacs --batch -l emacs-build-driver.el  -*- lexical-binding: t; -*-
;; Runs "Build and push" through `eglot-code-actions' (the source action, as a person picks it), records the progress
;; idpbuild.el shows and the result, then builds a Dockerfile whose RUN fails with C-c C-b b and records the
;; diagnostics.
(require 'cl-lib)
(require 'json)
(require 'eglot)

(defvar driver-report nil)
(defun driver-put (key value) (setq driver-report (plist-put driver-report key value)))

(defun driver-wait (predicate &optional seconds)
  "Process events until PREDICATE holds or SECONDS (default 20) pass; return whether it held."
  (let ((deadline (+ (float-time) (or seconds 20))) (held nil))
    (while (and (not (setq held (funcall predicate))) (< (float-time) deadline))
      (accept-process-output nil 0.02))
    (and held t)))

(defun driver-diagnostics ()
  "The buffer's Eglot diagnostics as plists (0-based line, code, severity, source)."
  (let ((diags (if eglot--current-flymake-report-fn (flymake-diagnostics) eglot--diagnostics)))
    (mapcar (lambda (diag)
              (let ((lsp (cdr (assoc 'eglot-lsp-diag (flymake-diagnostic-data diag)))))
                (list :line (1- (line-number-at-pos (flymake-diagnostic-beg diag)))
                      :code (plist-get lsp :code) :severity (plist-get lsp :severity) :source (plist-get lsp :source))))
            diags)))

(defvar driver-progress nil)
(defvar driver-results nil)

(condition-case err
    (progn
      (load (expand-file-name "editors/emacs/idpbuild.el" (getenv "IDPBUILD_REPO")))
      (setq idpbuild-program (list (getenv "IDPBUILD_BINARY") "lsp" "--registries-conf" (getenv "IDPBUILD_REGISTRIES_CONF")
                                   "--root" (getenv "IDPBUILD_STORE") "--no-kubernetes"))
      (setq idpbuild-settings (list :registry (getenv "IDPBUILD_REGISTRY")
                                    :insecureRegistries (vector (getenv "IDPBUILD_REGISTRY"))))
      (add-hook 'idpbuild-progress-functions
                (lambda (token value)
                  (push (list :token token :kind (plist-get value :kind) :title (plist-get value :title)
                              :message (plist-get value :message) :percentage (plist-get value :percentage))
                        driver-progress)))
      (add-hook 'idpbuild-result-functions (lambda (result error) (push (or result (list :error error)) driver-results)))
      (add-hook 'idpbuild-dockerfile-mode-hook #'eglot-ensure)
      (find-file (getenv "IDPBUILD_FILE"))
      (run-hooks 'post-command-hook)
      (driver-put :connected (driver-wait (lambda () (eglot-current-server))))
      (driver-put :server_pid (let ((server (eglot-current-server)))
                                (and server (process-id (jsonrpc--process server)))))
      ;; The source action, picked by kind: one action of that kind, so Eglot runs it without a menu.
      (goto-char (point-min))
      (let ((titles (mapcar (lambda (action) (plist-get action :title))
                            (eglot-code-actions (point-min) (point-min)))))
        (driver-put :action_titles (vconcat titles)))
      (eglot-code-actions (point-min) (point-min) "source.idpbuild.buildAndPush" t)
      (driver-put :pushed (driver-wait (lambda () driver-results) 120))
      (driver-put :push_result (car driver-results))
      (driver-put :progress (vconcat (reverse driver-progress)))
      ;; The failing RUN, built with the key binding (build only).
      (find-file (getenv "IDPBUILD_FAILING"))
      (run-hooks 'post-command-hook)
      (driver-wait (lambda () (eglot-current-server)))
      (let ((command (lookup-key idpbuild-dockerfile-mode-map (kbd "C-c C-b b"))))
        (driver-put :binding (symbol-name command))
        (funcall command))
      (driver-put :failed (driver-wait (lambda () (>= (length driver-results) 2)) 120))
      (driver-put :failed_result (car driver-results))
      (driver-wait (lambda () (cl-some (lambda (d) (equal (plist-get d :source) "idpbuild build")) (driver-diagnostics))))
      (driver-put :build_diagnostics (vconcat (driver-diagnostics)))
      (driver-put :log_has_output (with-current-buffer (get-buffer-create idpbuild-log-buffer)
                                    (and (string-match-p "about to fail" (buffer-string)) t)))
      (let ((server (eglot-current-server)))
        (eglot-shutdown server)
        (driver-put :stopped (driver-wait (lambda () (not (process-live-p (jsonrpc--process server)))))))
      (driver-put :ok t))
  (error (driver-put :ok :json-false) (driver-put :error (format "%S" err))))

(with-temp-file (getenv "IDPBUILD_REPORT")
  (insert (json-encode driver-report)))
(kill-emacs 0)
