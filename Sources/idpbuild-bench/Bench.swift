import ArgumentParser
import DockerfileCheck
import DockerfileSyntax
import Foundation

/// Benchmarks that print the figures the issues name.
@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idpbuild-bench",
        abstract: "Measure idpbuild's performance figures.",
        subcommands: [CheckBench.self, LSPBench.self, SystemdBench.self, PlanBench.self]
    )
}

/// Parse and check generated Dockerfiles of several sizes; prints median times.
struct CheckBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Parse and check generated 1,000- and 100,000-line Dockerfiles (target: ≤ 1 ms per 1,000 lines, linear)."
    )

    @Option(help: "Line counts to measure.")
    var lines: [Int] = [1_000, 10_000, 100_000]

    @Option(help: "Generated content: typical (the density of Docker's official images: long RUN blocks, comments) or dense (an instruction on almost every line, the worst case). Default: both.")
    var profile: [DockerfileGenerator.Profile] = DockerfileGenerator.Profile.allCases

    @Option(help: "Time budget per size, in seconds (at least 5 runs each).")
    var seconds: Double = 3

    @Option(help: "Exact number of runs per size (overrides --seconds; for instruction counting under valgrind).")
    var runs: Int?

    @ArgumentParser.Flag(help: "Print the generated Dockerfile of the first size and profile instead of measuring.")
    var emit = false

    func run() throws {
        if emit {
            print(DockerfileGenerator.generate(lines: lines.first ?? 1_000, profile: profile.first ?? .typical), terminator: "")
            return
        }
        for profile in profile {
            measure(profile)
        }
    }

    private func measure(_ profile: DockerfileGenerator.Profile) {
        let sample = Dockerfile(parsing: DockerfileGenerator.generate(lines: 1_000, profile: profile))
        print("\(profile.rawValue) Dockerfiles (\(sample.instructions.count) instructions per 1,000 lines):")
        print("size (lines)  parse median  parse+check median  per 1,000 lines (parse+check)  runs")
        var perThousand: [Double] = []
        for count in lines {
            let text = DockerfileGenerator.generate(lines: count, profile: profile)
            let bytes = Array(text.utf8)
            var parseTimes: [Double] = []
            var checkTimes: [Double] = []
            let deadline = Date().addingTimeInterval(seconds)
            var diagnostics = 0
            while runs.map({ parseTimes.count < $0 }) ?? (parseTimes.count < 5 || (Date() < deadline && parseTimes.count < 1_000)) {
                let start = DispatchTime.now().uptimeNanoseconds
                let parsed = Dockerfile(bytes: bytes)
                let parsedAt = DispatchTime.now().uptimeNanoseconds
                let found = Checker.check(parsed)
                let end = DispatchTime.now().uptimeNanoseconds
                diagnostics = found.count
                parseTimes.append(Double(parsedAt - start) / 1e6)
                checkTimes.append(Double(end - start) / 1e6)
            }
            let parseMedian = median(parseTimes)
            let checkMedian = median(checkTimes)
            let per = checkMedian / Double(count) * 1_000
            perThousand.append(per)
            print(String(format: "%12d  %9.3f ms  %15.3f ms  %26.3f ms  %5d", count, parseMedian, checkMedian, per, checkTimes.count)
                  + "  (\(diagnostics) diagnostics)")
        }
        if let first = perThousand.first, let last = perThousand.last, perThousand.count > 1 {
            print(String(format: "growth: %.2fx the per-line cost from %d to %d lines (1.00 = linear)", last / first, lines.first!, lines.last!))
        }
        print("")
    }

    private func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted[sorted.count / 2]
    }
}

/// Generated Dockerfile text of a given length.
enum DockerfileGenerator {
    /// How instruction-dense the text is.
    enum Profile: String, CaseIterable, ExpressibleByArgument {
        /// Modeled on Docker's official images (python, node): comments, ENV blocks, long continued RUNs.
        case typical
        /// An instruction on almost every line: stages with ARG/ENV/LABEL, short RUNs, COPY, heredocs.
        case dense
    }

    static func generate(lines target: Int, profile: Profile) -> String {
        var out = "# syntax=docker/dockerfile:1\nARG BASE=debian\nARG TAG=12\n"
        var stage = 0
        var lines = 3
        while lines < target {
            let block = profile == .dense ? denseBlock(stage) : typicalBlock(stage)
            lines += block.utf8.reduce(0) { $0 + ($1 == 10 ? 1 : 0) }
            out += block
            stage += 1
        }
        return out
    }

    private static func denseBlock(_ stage: Int) -> String {
        """
        # stage \(stage): build the component
        FROM ${BASE}:${TAG} AS stage\(stage)
        ARG VERSION=1.\(stage).0
        ENV APP_HOME=/srv/app\(stage) \\
            PATH=/srv/app\(stage)/bin:$PATH
        LABEL org.opencontainers.image.version="${VERSION}" stage=\(stage)
        WORKDIR $APP_HOME
        RUN set -eux; \\
            apt-get update; \\
            apt-get install -y --no-install-recommends ca-certificates curl; \\
            rm -rf /var/lib/apt/lists/*
        COPY --chown=1000:1000 src/ ./src/
        RUN --mount=type=cache,target=/root/.cache make -C src build VERSION=${VERSION}
        COPY <<EOF /etc/app\(stage).conf
        name=app\(stage)
        version=${VERSION}
        EOF
        EXPOSE 80\(stage % 10)0/tcp
        USER 1000:1000
        HEALTHCHECK --interval=30s CMD ["curl", "-f", "http://localhost/"]
        CMD ["/srv/app/bin/server", "--stage", "\(stage)"]

        """
    }

    private static func typicalBlock(_ stage: Int) -> String {
        """
        #
        # Stage \(stage): the runtime, built from source the way the official images do it.
        #

        FROM ${BASE}:${TAG}-slim AS runtime\(stage)

        # ensure local python is preferred over distribution python
        ENV PATH=/usr/local/bin:$PATH

        # runtime dependencies
        RUN set -eux; \\
        	apt-get update; \\
        	apt-get install -y --no-install-recommends \\
        		ca-certificates \\
        		netbase \\
        		tzdata \\
        	; \\
        	rm -rf /var/lib/apt/lists/*

        ENV GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D \\
            PYTHON_VERSION=3.12.\(stage % 10)

        RUN set -eux; \\
        	\\
        	savedAptMark="$(apt-mark showmanual)"; \\
        	apt-get update; \\
        	apt-get install -y --no-install-recommends \\
        		dpkg-dev \\
        		gcc \\
        		gnupg \\
        		libbz2-dev \\
        		libc6-dev \\
        		libffi-dev \\
        		libgdbm-dev \\
        		liblzma-dev \\
        		libncursesw5-dev \\
        		libreadline-dev \\
        		libsqlite3-dev \\
        		libssl-dev \\
        		make \\
        		tk-dev \\
        		uuid-dev \\
        		wget \\
        		xz-utils \\
        		zlib1g-dev \\
        	; \\
        	\\
        	wget -O python.tar.xz "https://www.python.org/ftp/python/${PYTHON_VERSION%%[a-z]*}/Python-$PYTHON_VERSION.tar.xz"; \\
        	wget -O python.tar.xz.asc "https://www.python.org/ftp/python/${PYTHON_VERSION%%[a-z]*}/Python-$PYTHON_VERSION.tar.xz.asc"; \\
        	GNUPGHOME="$(mktemp -d)"; export GNUPGHOME; \\
        	gpg --batch --keyserver hkps://keys.openpgp.org --recv-keys "$GPG_KEY"; \\
        	gpg --batch --verify python.tar.xz.asc python.tar.xz; \\
        	gpgconf --kill all; \\
        	rm -rf "$GNUPGHOME" python.tar.xz.asc; \\
        	mkdir -p /usr/src/python; \\
        	tar --extract --directory /usr/src/python --strip-components=1 --file python.tar.xz; \\
        	rm python.tar.xz; \\
        	\\
        	cd /usr/src/python; \\
        	gnuArch="$(dpkg-architecture --query DEB_BUILD_GNU_TYPE)"; \\
        	./configure \\
        		--build="$gnuArch" \\
        		--enable-loadable-sqlite-extensions \\
        		--enable-optimizations \\
        		--enable-option-checking=fatal \\
        		--enable-shared \\
        		--with-lto \\
        		--with-system-expat \\
        		--without-ensurepip \\
        	; \\
        	nproc="$(nproc)"; \\
        	make -j "$nproc"; \\
        	make install; \\
        	cd /; \\
        	rm -rf /usr/src/python; \\
        	\\
        	apt-mark auto '.*' > /dev/null; \\
        	apt-mark manual $savedAptMark; \\
        	apt-get purge -y --auto-remove -o APT::AutoRemove::RecommendsImportant=false; \\
        	rm -rf /var/lib/apt/lists/*; \\
        	\\
        	python3 --version

        # make some useful symlinks that are expected to exist ("/usr/local/bin/python" and friends)
        RUN set -eux; \\
        	for src in idle3 pydoc3 python3 python3-config; do \\
        		dst="$(echo "$src" | tr -d 3)"; \\
        		[ -s "/usr/local/bin/$src" ]; \\
        		[ ! -e "/usr/local/bin/$dst" ]; \\
        		ln -svT "$src" "/usr/local/bin/$dst"; \\
        	done

        COPY docker-entrypoint.sh /usr/local/bin/
        ENTRYPOINT ["docker-entrypoint.sh"]
        EXPOSE 8080
        CMD ["python3"]


        """
    }
}
