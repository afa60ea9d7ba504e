"""A Maker-style vault type at genesis (``[genesis.vaults]`` in ``node.toml``): ETH locked as collateral,
USDC drawn against it, unsafe vaults sold by a Dutch auction (clip.sol), so ``clearhouse keeper`` has
vaults to bark and auctions to take (docs/node.md "Vaults and the vault keeper").

Absent, the genesis is unchanged. Present, block 1 also lists the collateral asset (``ListAsset``), the
vault type (``ListVaultType``, priced by the collateral's oracle feed, which is the devnet's ETH feed)
and, when ``debt_limit`` is not 0, the Dog's ``Hole`` (``SetDebtLimit``). Amounts are decimal strings
(settlement units), ratios decimal strings (``mat = "1.5"``), durations chain seconds.
"""

from __future__ import annotations

import msgspec

from clearhouse.core.fixedpoint import RAY, WAD, to_fixed
from clearhouse.ledger import commands as c
from clearhouse.ledger.errors import ClearhouseError, InvalidValue
from clearhouse.ledger.model import AssetSpec, VaultTypeSpec
from clearhouse.liquidation.vault import DutchAuction


class VaultGenesis(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One vault type with a linear Dutch auction (the devnet's ETH-A)."""

    id: str = "ETH-A"
    #: Collateral asset (also its price key: the devnet's ETH feed) and its margin haircut for perps.
    collateral: str = "ETH"
    collateral_haircut: str = "0.8"
    #: Liquidation ratio: safe while ``ink x price / mat >= debt``.
    mat: str = "1.5"
    #: Debt ceiling of the type and the smallest non-zero vault debt (settlement units).
    line: str = "10000000"
    dust: str = "100"
    #: Liquidation penalty: the auction raises ``debt x chop``.
    chop: str = "1.13"
    #: Auction start price ``oracle x buf``; linear to zero in ``tau`` s; needs a redo after ``tail`` s
    #: or below ``cusp x top``.
    buf: str = "1.2"
    tau: int = 600
    tail: int = 1800
    cusp: str = "0.4"
    #: Kick incentive to the barking keeper: ``tip + chip x tab``.
    tip: str = "10"
    chip: str = "0.001"
    #: Most debt + penalty of this type under auction at once (0 = no limit); the Dog's global ``Hole``.
    hole: str = "0"
    debt_limit: str = "0"

    def spec(self) -> VaultTypeSpec:
        disposal = DutchAuction(
            buf=to_fixed(self.buf, RAY, "vaults.buf"), tail=self.tail,
            cusp=to_fixed(self.cusp, RAY, "vaults.cusp"),
            chip=to_fixed(self.chip, WAD, "vaults.chip"), tip=to_fixed(self.tip, WAD, "vaults.tip"),
            hole=to_fixed(self.hole, WAD, "vaults.hole"), curve="linear", tau=self.tau,
        )
        return VaultTypeSpec(
            self.id, self.collateral, to_fixed(self.mat, RAY, "vaults.mat"),
            to_fixed(self.line, WAD, "vaults.line"), chop=to_fixed(self.chop, WAD, "vaults.chop"),
            dust=to_fixed(self.dust, WAD, "vaults.dust"), disposal=disposal,
        )

    def asset(self) -> AssetSpec:
        haircut = to_fixed(self.collateral_haircut, WAD, "vaults.collateral_haircut")
        return AssetSpec(self.collateral, 18, haircut)

    def validate(self, settlement: str, feed: str) -> None:
        if self.collateral == settlement:
            raise InvalidValue("genesis.vaults: the collateral cannot be the settlement asset")
        if self.collateral != feed:
            raise InvalidValue(f"genesis.vaults: collateral {self.collateral!r} has no price feed; "
                               f"the devnet prices {feed!r}")
        try:
            self.spec().validate()
            self.asset().validate()
            if to_fixed(self.debt_limit, WAD, "vaults.debt_limit") < 0:
                raise InvalidValue("debt_limit must be >= 0")
        except ClearhouseError as err:
            raise InvalidValue(f"genesis.vaults: {err}") from None


def vault_txs(v: VaultGenesis) -> list[c.AnyCommand]:
    """Block 1's vault commands: the collateral asset, the vault type, the debt limit when set."""
    txs: list[c.AnyCommand] = [c.ListAsset(v.asset()), c.ListVaultType(v.spec())]
    hole = to_fixed(v.debt_limit, WAD, "vaults.debt_limit")
    if hole:
        txs.append(c.SetDebtLimit(hole))
    return txs


def toml_section(v: VaultGenesis) -> str:
    """The ``[genesis.vaults]`` table of :func:`clearhouse.node.config.dump_config`."""
    from clearhouse.node.toml_text import toml_value

    lines = ["\n[genesis.vaults]"]
    lines += [f"{f} = {toml_value(getattr(v, f))}" for f in v.__struct_fields__]
    return "\n".join(lines)
