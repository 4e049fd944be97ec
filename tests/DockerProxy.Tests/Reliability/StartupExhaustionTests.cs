using System.Net;
using DockerProxy.Tests.Process;
using DockerProxy.Tests.Support;
using Xunit.Abstractions;

namespace DockerProxy.Tests.Reliability;

/// <summary>
/// Started with almost no fds to spare (RLIMIT_NOFILE set by prlimit(1), which then execs the proxy
/// with fd 3 as it got it), the proxy either starts or reports the failure as any other: "1\n" and
/// the reason on fd 3, status 1, one line on stderr, never a crash with a stack trace. Where the
/// limit runs out depends on the runtime, so every limit from 5 to 12 is tried.
/// </summary>
[Trait("Category", "Process")]
public sealed class StartupExhaustionTests(ITestOutputHelper output)
{
    [SkippableTheory]
    [InlineData("tcp")]
    [InlineData("udp")]
    public async Task Out_of_fds_at_start_is_a_reported_start_up_failure_not_a_crash(string proto)
    {
        Skip.IfNot(File.Exists("/usr/bin/prlimit"), "prlimit(1) (util-linux) is needed");
        var outcomes = new List<string>();
        for (int limit = 5; limit <= 16; limit++)
        {
            var host = new IPEndPoint(IPAddress.Loopback, proto == "udp" ? Peers.FreeUdpPort(IPAddress.Loopback) : Peers.FreePort(IPAddress.Loopback));
            string[] args = [$"--nofile={limit}:{limit}", "--", Binaries.Path(Binaries.Ours), .. ProxyRun.EngineArgs(proto, host, new IPEndPoint(IPAddress.Loopback, 9))];
            await using SpawnedProcess proxy = SpawnedProcess.Start("/usr/bin/prlimit", args);
            string status = await proxy.ReadStatusTextAsync();
            if (status == "0\n")
            {
                proxy.Signal(Posix.SigTerm);
            }

            int exit = await proxy.WaitForExitAsync();
            string stderr = await proxy.StderrAsync();
            output.WriteLine($"limit {limit}: exit {exit}, status {status.Replace("\n", "\\n", StringComparison.Ordinal)}");
            stderr.Should().NotContain("Unhandled exception").And.NotContain("   at ", $"no stack trace with {limit} fds");
            if (status == "0\n")
            {
                exit.Should().Be(0, $"started with {limit} fds, it stops cleanly");
                outcomes.Add("ready");
                continue;
            }

            status.Should().StartWith("1\n", $"with {limit} fds the failure is reported on fd 3");
            status.Length.Should().BeGreaterThan(2, "with the reason");
            exit.Should().Be(1, $"with {limit} fds it exits as after any start-up failure");
            stderr.Trim().Split('\n').Should().ContainSingle($"one line says why, with {limit} fds").Which.Should().Contain(status[2..]);
            outcomes.Add(status[2..]);
        }

        outcomes[0].Should().NotBe("ready", "5 fds are too few: the test must see failures");
        outcomes[^1].Should().Be("ready", "16 fds are enough to start");
        outcomes.Should().Contain(o => o.Contains($"listen {proto}4 ", StringComparison.Ordinal) && o.EndsWith("socket: too many open files", StringComparison.Ordinal),
            "a limit that runs out at the listening socket gets the original's wording, with the step that failed");
    }
}
