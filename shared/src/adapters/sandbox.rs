//! The local payment processor: the processor's documented test payment
//! methods with the same outcomes, idempotent charges, and switches that make
//! it time out (before or after it charged) for tests of the unhappy paths.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::billing::{Decline, SourceDetails};
use crate::domain::ids::{MemberId, PracticeId};
use crate::ports::{ChargeOutcome, ChargeRequest, GatewayError, MethodInfo, PaymentGateway};

/// The test payment methods the sandbox knows (the processor's documented ids).
pub const TEST_METHODS: [&str; 5] = [
    "pm_card_visa",
    "pm_card_mastercard",
    "pm_card_chargeDeclined",
    "pm_card_chargeDeclinedInsufficientFunds",
    "pm_usBankAccount",
];

fn test_method(token: &str) -> Option<SourceDetails> {
    let card = |brand: &str, last4: &str| SourceDetails::Card {
        brand: brand.into(),
        last4: last4.into(),
        exp_month: 12,
        exp_year: 2034,
    };
    Some(match token {
        "pm_card_visa" => card("visa", "4242"),
        "pm_card_mastercard" => card("mastercard", "4444"),
        "pm_card_chargeDeclined" => card("visa", "0002"),
        "pm_card_chargeDeclinedInsufficientFunds" => card("visa", "9995"),
        "pm_usBankAccount" => SourceDetails::BankAccount { bank_name: "STRIPE TEST BANK".into(), last4: "6789".into() },
        _ => return None,
    })
}

fn decline_for(token: &str) -> Option<Decline> {
    match token {
        "pm_card_chargeDeclined" => {
            Some(Decline { code: "generic_decline".into(), message: "Your card was declined.".into() })
        }
        "pm_card_chargeDeclinedInsufficientFunds" => {
            Some(Decline { code: "insufficient_funds".into(), message: "Your card has insufficient funds.".into() })
        }
        _ => None,
    }
}

struct Attached {
    customer: String,
    token: String,
}

#[derive(Default)]
struct State {
    methods: HashMap<String, Attached>,
    by_key: HashMap<String, (ChargeRequest, ChargeOutcome)>,
    by_id: HashMap<String, ChargeOutcome>,
}

#[derive(Default)]
pub struct SandboxGateway {
    state: Mutex<State>,
    next: AtomicU64,
    charges: AtomicU32,
    drop_before: AtomicU32,
    drop_after: AtomicU32,
}

impl SandboxGateway {
    pub fn new() -> Self {
        Self::default()
    }

    /// Charges actually made (replays of an idempotency key do not count).
    pub fn charges_made(&self) -> u32 {
        self.charges.load(Ordering::SeqCst)
    }

    /// The next `n` charge calls time out before reaching the processor.
    pub fn time_out_before_charging(&self, n: u32) {
        self.drop_before.store(n, Ordering::SeqCst);
    }

    /// The next `n` charge calls charge, then lose the answer (a crash or timeout after the charge).
    pub fn time_out_after_charging(&self, n: u32) {
        self.drop_after.store(n, Ordering::SeqCst);
    }

    fn id(&self, prefix: &str) -> String {
        format!("{prefix}_sbx{:08}", self.next.fetch_add(1, Ordering::SeqCst))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take(counter: &AtomicU32) -> bool {
        counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }
}

#[async_trait]
impl PaymentGateway for SandboxGateway {
    async fn create_customer(&self, _: &PracticeId, _: &MemberId) -> Result<String, GatewayError> {
        Ok(self.id("cus"))
    }

    async fn setup_intent(&self, customer: &str) -> Result<String, GatewayError> {
        Ok(format!("{}_secret_{customer}", self.id("seti")))
    }

    async fn attach_method(&self, customer: &str, method: &str) -> Result<MethodInfo, GatewayError> {
        let details = test_method(method).ok_or_else(|| {
            GatewayError::InvalidMethod(format!(
                "No such PaymentMethod: '{method}'. The sandbox accepts {TEST_METHODS:?}."
            ))
        })?;
        let id = self.id("pm");
        self.lock().methods.insert(id.clone(), Attached { customer: customer.to_owned(), token: method.to_owned() });
        Ok(MethodInfo { processor_id: id, details })
    }

    async fn detach_method(&self, method: &str) -> Result<(), GatewayError> {
        self.lock().methods.remove(method);
        Ok(())
    }

    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, GatewayError> {
        if Self::take(&self.drop_before) {
            return Err(GatewayError::Uncertain("timed out before the processor answered".into()));
        }
        let outcome = {
            let mut s = self.lock();
            if let Some((first, outcome)) = s.by_key.get(&request.idempotency_key) {
                if first != request {
                    return Err(GatewayError::Rejected(
                        "Keys for idempotent requests can only be used with the same parameters they were first used with."
                            .into(),
                    ));
                }
                outcome.clone()
            } else {
                let attached = s.methods.get(&request.method).filter(|m| m.customer == request.customer);
                let Some(attached) = attached else {
                    return Err(GatewayError::InvalidMethod(format!(
                        "The payment method {} is not attached to customer {}.",
                        request.method, request.customer
                    )));
                };
                if request.amount_cents <= 0 {
                    return Err(GatewayError::Rejected("Amount must be at least 1 cent.".into()));
                }
                let id = self.id("pi");
                let outcome = match decline_for(&attached.token) {
                    Some(decline) => ChargeOutcome::Declined { processor_id: Some(id.clone()), decline },
                    None => {
                        self.charges.fetch_add(1, Ordering::SeqCst);
                        ChargeOutcome::Succeeded { processor_id: id.clone() }
                    }
                };
                s.by_key.insert(request.idempotency_key.clone(), (request.clone(), outcome.clone()));
                s.by_id.insert(id, outcome.clone());
                outcome
            }
        };
        if Self::take(&self.drop_after) {
            return Err(GatewayError::Uncertain("the connection dropped after the charge".into()));
        }
        Ok(outcome)
    }

    async fn retrieve_charge(&self, processor_id: &str) -> Result<ChargeOutcome, GatewayError> {
        self.lock()
            .by_id
            .get(processor_id)
            .cloned()
            .ok_or_else(|| GatewayError::Rejected(format!("No such payment_intent: '{processor_id}'")))
    }
}
