;;; emacs-driver.el --- Headless Emacs (Eglot) test: emacs --batch -l emacs-driver.el  -*- lexical-binding: t; -*-
;; Not -Q: Debian's site start-up is what puts elpa-eglot on the load path (--batch already skips init files).
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

(defun driver-diagnostics ()
  "The buffer's Eglot diagnostics as plists with 0-based lines and columns, sorted."
  ;; Eglot hands diagnostics to Flymake once Flymake has asked for them, and keeps them itself before that.
  (let ((diags (if eglot--current-flymake-report-fn (flymake-diagnostics) eglot--diagnostics)))
    (sort
     (mapcar (lambda (diag)
               (let* ((beg (flymake-diagnostic-beg diag)) (end (flymake-diagnostic-end diag))
                      (lsp (cdr (assoc 'eglot-lsp-diag (flymake-diagnostic-data diag)))))
                 (list :line (1- (line-number-at-pos beg)) :col (save-excursion (goto-char beg) (current-column))
                       :end_line (1- (line-number-at-pos end)) :end_col (save-excursion (goto-char end) (current-column))
                       :code (plist-get lsp :code) :severity (plist-get lsp :severity))))
             diags)
     (lambda (a b) (< (plist-get a :line) (plist-get b :line))))))

(defun driver-codes ()
  (mapconcat (lambda (d) (or (plist-get d :code) "")) (driver-diagnostics) ","))

(condition-case err
    (progn
      (load (expand-file-name "editors/emacs/idpbuild.el" (getenv "IDPBUILD_REPO")))
      (setq idpbuild-program (list (getenv "IDPBUILD_BINARY") "lsp"))
      (add-hook 'idpbuild-dockerfile-mode-hook #'eglot-ensure)
      (find-file (getenv "IDPBUILD_FILE"))
      (driver-put :mode (symbol-name major-mode))
      ;; eglot-ensure connects after the next command, as it does for a person.
      (run-hooks 'post-command-hook)
      (driver-put :connected (driver-wait (lambda () (eglot-current-server))))
      (driver-put :server_pid (let ((server (eglot-current-server)))
                                (and server (process-id (jsonrpc--process server)))))
      (driver-put :diagnostics_arrived (driver-wait (lambda () (>= (length (driver-diagnostics)) 2))))
      (driver-put :diagnostics (vconcat (driver-diagnostics)))
      ;; The quick fix at the misspelled flag, through eglot-code-actions (one quickfix: applied without a menu).
      (goto-char (point-min)) (forward-line 1) (forward-char 8)
      (eglot-code-actions (point) nil "quickfix" t)
      ;; Eglot sends the change from an idle timer, and a batch Emacs is never idle: send it as the timer would.
      (eglot--signal-textDocument/didChange)
      (driver-put :fixed_line (buffer-substring-no-properties (line-beginning-position) (line-end-position)))
      (driver-put :fix_cleared (driver-wait (lambda () (equal (driver-codes) "JSONArgsRecommended"))))
      (driver-put :codes_after_fix (driver-codes))
      ;; Completion of an instruction being typed.
      (goto-char (point-max)) (insert "RU")
      (eglot--signal-textDocument/didChange)
      (let* ((capf (eglot-completion-at-point))
             (table (nth 2 capf)))
        (driver-put :completion (vconcat (all-completions "RU" table))))
      ;; File name detection.
      (let ((folder (file-name-directory (getenv "IDPBUILD_FILE"))) (detected nil))
        (dolist (name '("Dockerfile" "app.Dockerfile" "Dockerfile.prod" "Containerfile"))
          (let ((buffer (find-file-noselect (expand-file-name (concat "detect/" name) folder))))
            (setq detected (plist-put detected (intern (concat ":" name))
                                      (symbol-name (buffer-local-value 'major-mode buffer))))
            (kill-buffer buffer)))
        (driver-put :detected detected))
      ;; eglot-shutdown sends shutdown and exit, then jsonrpc deletes the process at once (it may not see exit 0).
      (let ((server (eglot-current-server)))
        (eglot-shutdown server)
        (driver-put :stopped (driver-wait (lambda () (not (process-live-p (jsonrpc--process server)))))))
      (driver-put :ok t))
  (error (driver-put :ok :json-false) (driver-put :error (format "%S" err))))

(with-temp-file (getenv "IDPBUILD_REPORT")
  (insert (json-encode driver-report)))
(kill-emacs 0)
