using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Sctp;

/// <summary>
/// One run of every SCTP case (tests/sctp/sctp_cases.py) against ours and both originals, inside a
/// guest whose kernel has SCTP (build/sctp-vm.sh): this machine's kernel has none, and a guest boot
/// costs seconds, so all cases share the one run and each test reads its own result from it.
/// </summary>
public sealed partial class SctpGuestFixture : IAsyncLifetime
{
    // The guest run takes about a minute on an idle machine; emulation on a loaded one is slower.
    private static readonly TimeSpan _guestLimit = TimeSpan.FromMinutes(8);

    private readonly Dictionary<(string Impl, string Case), (bool Passed, string Detail)> _results = [];

    /// <summary>Everything the run printed, for the test output when something fails.</summary>
    public string Output { get; private set; } = "";

    /// <summary>build/sctp-vm.sh's exit status: 0 all passed, 1 some case failed, 124 timeout, 125 no guest.</summary>
    public int ExitStatus { get; private set; } = -1;

    /// <summary>Why there is no run at all (an implementation missing), or null.</summary>
    public string? NotRun { get; private set; }

    public async Task InitializeAsync()
    {
        var impls = new List<string>();
        foreach (string which in new[] { Binaries.Ours, Binaries.Original2010, Binaries.Original285 })
        {
            string? path = PathIfPresent(which);
            if (path is not null)
            {
                impls.Add($"{which}={path}");
            }
            else if (which == Binaries.Ours)
            {
                NotRun = "ours is not published (build/publish.sh)";
                return;
            }
        }

        string root = Binaries.RepositoryRoot;
        var start = new ProcessStartInfo("bash")
        {
            WorkingDirectory = root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        start.ArgumentList.Add(Path.Combine(root, "build", "sctp-vm.sh"));
        start.ArgumentList.Add("--timeout");
        start.ArgumentList.Add(((int)_guestLimit.TotalSeconds - 30).ToString(System.Globalization.CultureInfo.InvariantCulture));
        start.ArgumentList.Add("python3");
        start.ArgumentList.Add(Path.Combine(root, "tests", "sctp", "sctp_cases.py"));
        foreach (string impl in impls)
        {
            start.ArgumentList.Add("--impl");
            start.ArgumentList.Add(impl);
        }

        using var process = new System.Diagnostics.Process { StartInfo = start };
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var limit = new CancellationTokenSource(_guestLimit);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        ExitStatus = process.ExitCode;
        lock (output)
        {
            Output = output.ToString();
        }

        foreach (Match match in CaseLine().Matches(Output))
        {
            _results[(match.Groups["impl"].Value, match.Groups["case"].Value)] =
                (match.Groups["result"].Value == "PASS", match.Groups["detail"].Value);
        }
    }

    public Task DisposeAsync() => Task.CompletedTask;

    /// <summary>The result of one case, or null when the run did not report it.</summary>
    public (bool Passed, string Detail)? Result(string impl, string caseName) =>
        _results.TryGetValue((impl, caseName), out var result) ? result : null;

    /// <summary>The cases reported for one implementation.</summary>
    public IReadOnlyList<string> CasesOf(string impl) => [.. _results.Keys.Where(k => k.Impl == impl).Select(k => k.Case).Order(StringComparer.Ordinal)];

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.AppendLine(line);
        }
    }

    private static string? PathIfPresent(string which)
    {
        try
        {
            return Binaries.Path(which);
        }
        catch (Exception e) when (e is FileNotFoundException or SkipException)
        {
            return null; // each test asks Binaries itself, which skips or fails as the setting says
        }
    }

    [GeneratedRegex(@"^case (?<impl>\S+) (?<case>\S+) (?<result>PASS|FAIL) (?<detail>.*)$", RegexOptions.Multiline)]
    private static partial Regex CaseLine();
}
